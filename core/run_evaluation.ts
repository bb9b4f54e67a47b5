/**
 * A run's evaluation: every evaluator on the inference graph, each on its own
 * data ({@link EvalSources}), then `eval.json`, the data and cache summaries
 * and the report.
 *
 * @module
 */
import type { BackendInfo } from "./backend.ts";
import { evaluators } from "./components.ts";
import type { Metrics } from "./components.ts";
import type { CompiledGraph } from "./graph_run.ts";
import { writeJsonAtomic } from "./atomic.ts";
import { writeRunReport } from "../eval/run_report.ts";
import { badInputSummaryOf, formatBadInputSummary } from "../data/bad_input.ts";
import { cacheStatsOf, formatCacheStats } from "../data/decoded_cache_use.ts";
import type { RunPaths } from "./rundir.ts";
import { stepReplayWanted } from "./device_step.ts";
import type { DataSource } from "./types.ts";
import { EvalSources } from "./eval_sources.ts";
import { defaultCacheDir } from "./env.ts";
import type { RunnableRecipe, RunOptions, RunResult } from "./run.ts";
import type { WeightAverage } from "./weight_average.ts";

/**
 * Runs every evaluator of the recipe on the inference graph (on WebGPU its
 * forward calls replayed unless `replay` is false: `core/inference_replay.ts`),
 * each on its data: `source`, or its own `eval[i].data` from `sources` (built
 * here, in `cacheDir`, when not given).
 */
export async function evaluateRecipe(
  recipe: RunnableRecipe,
  graph: CompiledGraph,
  source: DataSource,
  options: { replay?: boolean; sources?: EvalSources; cacheDir?: string } = {},
): Promise<Record<string, Metrics>> {
  const results: Record<string, Metrics> = {};
  const sources = options.sources ??
    await EvalSources.build(recipe, { source, cacheDir: options.cacheDir ?? defaultCacheDir() });
  let model: ReturnType<CompiledGraph["inference"]> | undefined;
  try {
    model = graph.inference({
      seed: recipe.seed,
      replay: options.replay ?? stepReplayWanted(),
    });
    for (const [i, spec] of recipe.eval.entries()) {
      const evaluator = evaluators.get(spec.kind).create(spec.params);
      results[spec.name] = await evaluator.evaluate(model, sources.of(i));
    }
  } finally {
    model?.dispose?.();
    if (!options.sources) sources.dispose();
  }
  return results;
}

/**
 * {@link evaluateRecipe} on the weights `train.ema.evaluate` names, with the
 * averaged ones already swapped into the graph (`average` holding the raw
 * ones): with `both`, the raw weights are evaluated too, swapped in and back,
 * their results under `<name>_raw`.
 */
export async function evaluateWeights(
  recipe: RunnableRecipe,
  graph: CompiledGraph,
  source: DataSource,
  options: { replay?: boolean; sources?: EvalSources; average?: WeightAverage },
): Promise<Record<string, Metrics>> {
  const { average, ...rest } = options;
  const results = await evaluateRecipe(recipe, graph, source, rest);
  if (!average || recipe.train.ema?.evaluate !== "both") return results;
  average.swap();
  try {
    const raw = await evaluateRecipe(recipe, graph, source, rest);
    for (const [name, metrics] of Object.entries(raw)) results[`${name}_raw`] = metrics;
  } finally {
    average.swap();
  }
  return results;
}

/** Evaluates a trained run, writes `eval.json`, the data and cache summaries and the report. */
export async function evaluateAndReport(
  recipe: RunnableRecipe,
  state: {
    graph: CompiledGraph;
    source: DataSource;
    evalSources: EvalSources;
    backend: BackendInfo;
    options: RunOptions;
    paths: RunPaths;
    trained: { steps: number; finished: boolean; imagesPerSecond: number };
    /** With `train.ema`: the weight average, swapped with the parameters when they evaluate it. */
    average?: WeightAverage;
  },
): Promise<Omit<RunResult, "replay">> {
  const { graph, source, evalSources, backend, options, paths, trained, average } = state;
  const evalResults = options.skipEval || !trained.finished ? {} : await evaluateWeights(
    recipe,
    graph,
    source,
    { replay: options.replay, sources: evalSources, ...(average && { average }) },
  );
  if (trained.finished && !options.skipEval) await writeJsonAtomic(paths.eval, evalResults);
  const badInputs = badInputSummaryOf(source);
  if (badInputs && badInputs.total > 0) {
    await writeJsonAtomic(`${paths.root}/data_issues.json`, badInputs);
    console.error(formatBadInputSummary(badInputs));
  }
  const cacheStats = cacheStatsOf(source);
  if (cacheStats && !options.quiet) console.error(formatCacheStats(cacheStats));
  if (trained.finished && !options.skipReport) {
    const model = graph.inference({
      seed: recipe.seed,
      replay: options.replay ?? stepReplayWanted(),
    });
    try {
      await writeRunReport(paths.root, { eval: evalResults, specs: recipe.eval, model, source });
    } finally {
      model.dispose?.();
    }
  }
  return { paths, backend, eval: evalResults, ...trained };
}
