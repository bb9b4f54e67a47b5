/**
 * `deno task eval <run>`: evaluates a saved run's latest checkpoint with its
 * recipe (or another one over the same nodes, e.g. one that adds transfer
 * evaluators with their own `eval[i].data`), without training. Results are
 * added to the run's `eval.json` and its report is rewritten.
 *
 * @module
 */
import { type BackendChoice, initBackend } from "./backend.ts";
import type { Metrics } from "./components.ts";
import { writeJsonAtomic } from "./atomic.ts";
import { checkEvalData } from "./eval_checks.ts";
import { EvalSources } from "./eval_sources.ts";
import { defaultCacheDir } from "./env.ts";
import { loadRunnable } from "./recipe_runnable.ts";
import { buildRecipe } from "./run.ts";
import { evaluateWeights } from "./run_evaluation.ts";
import type { WeightAverage } from "./weight_average.ts";
import { loadRunWeights } from "./run_weights.ts";
import { runPaths } from "./rundir.ts";
import { stepReplayWanted } from "./device_step.ts";
import { writeRunReport } from "../eval/run_report.ts";

/** Options of {@link evaluateRun}. */
export interface EvaluateRunOptions {
  /** Recipe to evaluate with (default: the run's `recipe.yaml`). */
  recipe?: string;
  /** `--set` overrides of that recipe. */
  overrides?: string[];
  /** Backend (default: the recipe's). */
  backend?: BackendChoice;
  /** WebGPU: replay the evaluation's forward calls (default: unless `NOVALAB_STEP_REPLAY=0`). */
  replay?: boolean;
}

/** A run's `eval.json`, or `{}` when it has none yet. */
async function readEvalJson(path: string): Promise<Record<string, Metrics>> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return {};
    throw new Error(`${path}: ${(e as Error).message} (move it aside to start a new one)`);
  }
}

/**
 * Evaluates the latest checkpoint of `runDir`: every data source is built and
 * checked before the checkpoint is read, results merge into `eval.json`
 * (evaluators run before under other names keep theirs) and `report.html` is
 * rewritten.
 *
 * @returns This evaluation's metrics and the report's path.
 */
export async function evaluateRun(
  runDir: string,
  options: EvaluateRunOptions = {},
): Promise<{ results: Record<string, Metrics>; report: string }> {
  const replay = options.replay ?? stepReplayWanted();
  const paths = runPaths(runDir);
  const recipe = await loadRunnable(options.recipe ?? paths.recipe, options.overrides ?? []);
  await initBackend(options.backend ?? recipe.backend);
  const cacheDir = defaultCacheDir();
  const { graph, source } = await buildRecipe(recipe, cacheDir, { loadInit: false });
  let sources: EvalSources | undefined;
  let average: WeightAverage | undefined;
  try {
    sources = await EvalSources.build(recipe, { source, graph, cacheDir });
    checkEvalData(recipe, sources);
    average = (await loadRunWeights(paths.checkpoints, { recipe, graph, runDir })).average;
    // Read first, so an unreadable eval.json stops the command before it evaluates.
    const earlier = await readEvalJson(paths.eval);
    const results = await evaluateWeights(recipe, graph, source, {
      replay,
      sources,
      ...(average && { average }),
    });
    const merged = { ...earlier, ...results };
    await writeJsonAtomic(paths.eval, merged);
    const model = graph.inference({ seed: recipe.seed, replay });
    const files = await writeRunReport(paths.root, {
      eval: merged,
      specs: recipe.eval,
      model,
      source,
    }).finally(() => model.dispose?.());
    return { results, report: files.html };
  } finally {
    average?.dispose();
    graph.dispose();
    sources?.dispose();
    source.dispose();
  }
}
