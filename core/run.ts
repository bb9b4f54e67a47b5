/**
 * Runs a resolved recipe end to end: backend → data → graph → trainer →
 * checkpoints → evaluation, writing a run directory. `--resume` continues a
 * run exactly where its last checkpoint left it.
 *
 * @module
 */
import { applyPrecision, type BackendChoice, type BackendInfo, initBackend } from "./backend.ts";
import { exportModel } from "./checkpoint.ts";
import { losses, modules, sources } from "./components.ts";
import type { Metrics } from "./components.ts";
import { compileGraph } from "./graph.ts";
import type { CompiledGraph } from "./graph_run.ts";
import type { GraphSpec } from "./graph_spec.ts";
import type { RunPaths } from "./rundir.ts";
import { openRunDirectory } from "./run_directory.ts";
import type { TrainConfig } from "./train_config.ts";
import { Trainer } from "./trainer.ts";
import type { ReplayStats } from "./replayable_step.ts";
import { trainLoop, type TrainLoopState } from "./train_loop.ts";
import { matMulAutotuneWanted } from "../kernels/matmul_autotune_cache.ts";
import type { DataSource } from "./types.ts";
import { atDataEntry, evaluatingNotice, markFailed, runNotices } from "./run_notices.ts";
import { checkEvalData } from "./eval_checks.ts";
import { EvalSources } from "./eval_sources.ts";
import { evaluateAndReport } from "./run_evaluation.ts";
import type { Precision } from "./recipe/types.ts";

/** Everything the runner needs from a resolved recipe. */
export interface RunnableRecipe {
  /** Run name (directory prefix). */
  name: string;
  /** The one seed. */
  seed: number;
  /** Backend request. */
  backend: BackendChoice;
  /** Matmul operand precision (default `fp32`). */
  precision?: Precision;
  /** Data source kind and validated parameters. */
  data: { kind: string; params: unknown };
  /** The graph. */
  graph: GraphSpec;
  /** Training settings. */
  train: TrainConfig;
  /** Evaluators (`data`: an evaluator's own data source, else the recipe's). */
  eval: { kind: string; name: string; params: unknown; data?: { kind: string; params: unknown } }[];
  /** The resolved recipe as YAML (saved in the run directory). */
  yaml: string;
}

/** Options of {@link runRecipe}. */
export interface RunOptions {
  /** Parent of new run directories (default `runs`). */
  runsDir?: string;
  /**
   * Write the new run into exactly this directory (created if missing; it must
   * not hold a run yet) instead of `<runsDir>/<name>-<time>/`. A sweep gives
   * each member `<sweep>/members/<id>/` this way.
   */
  runDir?: string;
  /** Continue this run directory from its latest checkpoint. */
  resume?: string;
  /** Overrides the recipe's backend. */
  backend?: BackendChoice;
  /** Cache directory (default `$NOVALAB_CACHE` or `.cache/novalab`). */
  cacheDir?: string;
  /** Stop (with a checkpoint) once this many steps are complete — simulates an interruption. */
  stopAfter?: number;
  /**
   * Stop like Ctrl-C once aborted: the step in progress completes, a checkpoint
   * is saved and the result has `finished: false`.
   */
  signal?: AbortSignal;
  /** No progress output. */
  quiet?: boolean;
  /**
   * WebGPU: time the matmul tilings of the first step's shapes and keep the
   * fastest (cached per adapter; default `NOVALAB_MATMUL_AUTOTUNE=1`).
   */
  autotune?: boolean;
  /**
   * WebGPU: record the training step and replay it without tfjs's host work
   * (`core/device_step.ts`; default yes unless `NOVALAB_STEP_REPLAY=0`).
   */
  replay?: boolean;
  /** Skip evaluation. */
  skipEval?: boolean;
  /** Skip writing report.html and the SVG plots. */
  skipReport?: boolean;
}

/** What a run produced. */
export interface RunResult {
  /** The run directory. */
  paths: RunPaths;
  /** Backend used. */
  backend: BackendInfo;
  /** Completed steps. */
  steps: number;
  /** Whether the schedule finished (false when stopped early). */
  finished: boolean;
  /** Final metrics per evaluator name. */
  eval: Record<string, Metrics>;
  /** Mean images/s over the steps run in this process. */
  imagesPerSecond: number;
  /**
   * How the WebGPU step was issued (`core/device_step.ts`): replayed, or why
   * not; `null` on the CPU backends and with `replay: false`.
   */
  replay: ReplayStats | null;
}

import { defaultCacheDir } from "./env.ts";

export { defaultCacheDir };
export { evaluateRecipe } from "./run_evaluation.ts";

/**
 * Builds data source and graph for `recipe` on the active backend; nodes with
 * `init` load their checkpoints unless `loadInit` is false (a checkpoint of
 * this graph is loaded next). `source` replaces the recipe's data source (a
 * trained run's `FactsSource`: the graph compiled without the data).
 */
export async function buildRecipe(
  recipe: RunnableRecipe,
  cacheDir: string,
  options: { loadInit?: boolean; source?: DataSource } = {},
): Promise<{ source: DataSource; graph: CompiledGraph }> {
  const source: DataSource = options.source ??
    await sources.get(recipe.data.kind).create(recipe.data.params, { seed: recipe.seed, cacheDir })
      .catch((e: unknown): never => {
        throw atDataEntry(e, recipe);
      });
  try {
    const graph = await compileGraph(recipe.graph, {
      registries: { modules, losses },
      seed: recipe.seed,
      cacheDir,
      loadInit: options.loadInit ?? true,
      sampleBatch: (n) =>
        source.batch("train", 0, {
          batchSize: n,
          seed: recipe.seed,
          shuffle: false,
          dropLast: false,
        }),
    });
    return { source, graph };
  } catch (e) {
    source.dispose();
    throw e;
  }
}

/** Trains `recipe` into a (new or resumed) run directory, then evaluates it. */
export async function runRecipe(
  recipe: RunnableRecipe,
  options: RunOptions = {},
): Promise<RunResult> {
  const backend = await initBackend(options.backend ?? recipe.backend);
  applyPrecision(recipe.precision ?? "fp32", backend);
  const cacheDir = options.cacheDir ?? defaultCacheDir();
  // A resumed run reads everything from its own checkpoint, even if an init file is gone.
  const { source, graph } = await buildRecipe(recipe, cacheDir, { loadInit: !options.resume });
  let trainer: Trainer | undefined;
  let evalSources: EvalSources | undefined;
  try {
    // Without the final evaluation, diagnostics during training still read their data.
    const only = (spec: RunnableRecipe["eval"][number]) =>
      !options.skipEval ||
      (spec.kind === "diagnostics" && ((spec.params as { every?: number }).every ?? 0) > 0);
    evalSources = await EvalSources.build(recipe, { source, graph, cacheDir, only });
    checkEvalData(recipe, evalSources, only);
    trainer = new Trainer(graph, source, {
      config: recipe.train,
      seed: recipe.seed,
      ...(options.replay !== undefined && { replay: options.replay }),
    });
    const trained = await trainAndEvaluate(recipe, {
      trainer,
      graph,
      source,
      evalSources,
      backend,
      options,
    });
    const replay = trainer.replayStats;
    if (replay && !options.quiet) {
      console.error(
        replay.mode === "replaying"
          ? `step replay: ${replay.replays} steps replayed (${replay.dispatches} dispatches, ` +
            `${replay.submits} submit${replay.submits === 1 ? "" : "s"} each)`
          : `step replay: not replayed (${replay.mode}): ${replay.reason}`,
      );
    }
    return { ...trained, replay };
  } finally {
    // Everything the run allocated, also on failure: a sweep runs many members in one process.
    trainer?.optimizer.dispose();
    trainer?.average?.dispose();
    graph.dispose();
    evalSources?.dispose();
    source.dispose();
  }
}

async function trainAndEvaluate(
  recipe: RunnableRecipe,
  state: {
    trainer: Trainer;
    graph: CompiledGraph;
    source: DataSource;
    evalSources: EvalSources;
    backend: BackendInfo;
    options: RunOptions;
  },
): Promise<Omit<RunResult, "replay">> {
  const { trainer, graph, backend, options } = state;
  if (!options.quiet) { for (const line of runNotices(recipe, trainer)) console.error(line); }
  const { paths, start } = await openRunDirectory(recipe, {
    graph,
    trainer,
    backend,
    options,
    source: state.source,
  });
  // A resumed run goes on: an earlier failure report no longer describes it.
  if (options.resume) await Deno.remove(paths.failure).catch(() => {});
  const autotune = options.autotune ?? matMulAutotuneWanted();
  if (autotune && backend.name !== "webgpu" && !options.quiet) {
    console.error(
      `autotune: only the webgpu backend tunes its matmuls; this run is on ${backend.name}`,
    );
  }
  if (options.replay === true && backend.name !== "webgpu" && !options.quiet) {
    console.error(
      `step replay: only the webgpu backend replays steps; this run is on ${backend.name}`,
    );
  }
  const loop: TrainLoopState["options"] = {
    ...options,
    autotune: autotune && backend.name === "webgpu"
      ? { cacheDir: options.cacheDir ?? defaultCacheDir() }
      : undefined,
  };
  const trained = await trainAndExport(recipe, {
    trainer,
    graph,
    evalSources: state.evalSources,
    paths,
    start,
    options: loop,
  })
    .catch((e: unknown) => markFailed(paths.failure, e));
  // Said before evaluating rather than on SIGINT: evaluators compute synchronously for
  // seconds at a time, and a listener would hold the interrupt until they yield.
  if (trained.finished && !options.skipEval && recipe.eval.length > 0 && !options.quiet) {
    console.error(evaluatingNotice(paths.root));
  }
  // Swapped in by trainAndExport when the recipe evaluates the averaged weights.
  const average = trained.finished && recipe.train.ema?.evaluate !== "raw"
    ? trainer.average
    : undefined;
  return await evaluateAndReport(recipe, { ...state, paths, trained, average })
    .catch((e: unknown) => markFailed(paths.failure, e));
}

/** Trains from `start`, exports the final model when every step ran, and says how to resume. */
async function trainAndExport(
  recipe: RunnableRecipe,
  state: {
    trainer: Trainer;
    graph: CompiledGraph;
    evalSources: EvalSources;
    paths: RunPaths;
    start: number;
    options: TrainLoopState["options"];
  },
): Promise<{ steps: number; finished: boolean; imagesPerSecond: number }> {
  const { graph, paths } = state;
  const { interrupted, ...trained } = await trainLoop({ ...state, recipe });
  if (trained.finished && recipe.train.ema?.evaluate !== "raw") {
    // After the last checkpoint (it keeps the trained weights and their averages): from here
    // on the graph holds the averaged weights, which model.safetensors and evaluation see.
    state.trainer.average?.swap();
  }
  if (trained.finished) {
    await exportModel(paths.checkpoints, {
      step: trained.steps,
      parameters: graph.inferenceState(),
      metadata: { seed: String(recipe.seed), recipe: recipe.name },
    });
  }
  if (interrupted) {
    console.error(`interrupted after step ${trained.steps}; continue with --resume ${paths.root}`);
  }
  return trained;
}
