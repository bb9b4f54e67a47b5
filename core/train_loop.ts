/**
 * The training loop of a run: steps, metrics, diagnostics, checkpoints,
 * interruption and the non-finite stop, with one step in flight.
 *
 * The trainer records a step without waiting for its loss (`Trainer.begin`),
 * so the loop records step k + 1 before it reads step k's metrics: on a GPU
 * the host builds the next step while the device still runs this one, and
 * neither waits for the other. A step after which something reads or saves
 * the parameters (a checkpoint, diagnostics, the last step, a requested stop)
 * is read before the next one is recorded, so checkpoints hold exactly the
 * parameters after their step. `NOVALAB_TRAIN_PIPELINE=0` reads every step's
 * metrics before recording the next (the timing before 2026-11-23).
 *
 * @module
 */
import { envIs } from "./env.ts";
import { saveCheckpoint } from "./checkpoint.ts";
import { sha256Hex, trainingRecipe } from "./recipe_fingerprint.ts";
import type { CompiledGraph } from "./graph_run.ts";
import { writeJsonAtomic } from "./atomic.ts";
import { createProgress } from "./progress.ts";
import { diagnosticsSchedule, runDiagnostics } from "../eval/diagnostics.ts";
import type { EvalSources } from "./eval_sources.ts";
import { appendMetrics, type RunPaths } from "./rundir.ts";
import type { TrainConfig } from "./train_config.ts";
import type { Trainer } from "./trainer.ts";
import { stepReplayWanted } from "./device_step.ts";
import { NonFiniteError, type PendingStep } from "./step_metrics.ts";
import { clearTunedChoices, startStepTuning } from "../kernels/step_tuning.ts";

/** Environment variable: `0` reads each step's metrics before recording the next. */
export const TRAIN_PIPELINE_ENV = "NOVALAB_TRAIN_PIPELINE";

/** False when `NOVALAB_TRAIN_PIPELINE=0` (an unreadable environment counts as unset). */
export function trainPipelineEnabled(): boolean {
  return !envIs(TRAIN_PIPELINE_ENV, "0");
}

/** What the loop needs from the run. */
export interface TrainLoopState {
  /** The trainer (owns the optimiser and the data source). */
  trainer: Trainer;
  /** The graph (parameters saved in checkpoints). */
  graph: CompiledGraph;
  /** Evaluators' data (diagnostics during training read theirs; default the trainer's source). */
  evalSources?: EvalSources;
  /** The run directory. */
  paths: RunPaths;
  /** First step to run (0, or the step a resumed checkpoint reached). */
  start: number;
  /** The recipe's seed and name (checkpoint metadata), its training and eval settings. */
  recipe: {
    seed: number;
    name: string;
    /** The resolved recipe (its fingerprint goes into the checkpoints); absent: none. */
    yaml?: string;
    train: TrainConfig;
    eval: { kind: string; name: string; params: unknown }[];
  };
  /**
   * Quiet progress, a stop signal, a step to stop after (tests, sweeps), and
   * matmul and attention tuning after the first step (WebGPU; `kernels/step_tuning.ts`).
   */
  options: {
    quiet?: boolean;
    signal?: AbortSignal;
    stopAfter?: number;
    autotune?: { cacheDir: string };
    /** WebGPU: replay the diagnostics' forward calls (default: `stepReplayWanted()`). */
    replay?: boolean;
  };
}

/** Steps run (the count reached), whether all ran, and throughput. */
export interface TrainLoopResult {
  /** Steps done (a checkpoint holds the parameters after them). */
  steps: number;
  /** True when the recipe's last step ran. */
  finished: boolean;
  /** Samples per second over the steps of this call. */
  imagesPerSecond: number;
  /** True when SIGINT stopped the loop. */
  interrupted: boolean;
}

/** What one run of the loop shares between its parts. */
interface LoopRun {
  state: TrainLoopState;
  progress: ReturnType<typeof createProgress>;
  diagnostics: ReturnType<typeof diagnosticsSchedule>;
  /** Tuning started for the first step, until it has finished or stopped. */
  tuning: ReturnType<typeof startStepTuning> | undefined;
  /** Saves a checkpoint of the parameters after `done` steps; resolves to its file. */
  save(done: number): Promise<string>;
  /** SIGINT or the caller's signal asked the loop to stop. */
  stopRequested(): boolean;
}

/** Saves the last good parameters and the failure report, then throws an error naming both. */
async function failNonFinite(run: LoopRun, e: NonFiniteError): Promise<never> {
  const { paths } = run.state;
  const file = await run.save(e.step);
  await writeJsonAtomic(paths.failure, { step: e.step, report: e.report, kept_checkpoint: file });
  run.progress.stop();
  throw new Error(
    `${e.message}\nLast good parameters saved to ${file}; report in ${paths.failure}`,
  );
}

/** Finishes or stops the matmul/attention tuning after the first step (WebGPU `--autotune`). */
async function settleTuning(run: LoopRun, done: number): Promise<void> {
  if (!run.tuning) return;
  const { options, recipe, paths } = run.state;
  if (done === recipe.train.steps || run.stopRequested() || done === options.stopAfter) {
    run.tuning.stop(); // no step left to run with the tuned choices
  } else {
    const { lines, record } = await run.tuning.finish();
    for (const line of lines) run.progress.log(line);
    await writeJsonAtomic(paths.autotune, record);
  }
  run.tuning = undefined;
}

/** Runs the recipe's diagnostics after `step` (its index) and logs them with the metrics. */
async function diagnose(run: LoopRun, step: number): Promise<void> {
  const { trainer, graph, paths, options, recipe } = run.state;
  // The next batch first (its images may be converted on the device: that must not take the
  // lent buffers), then the diagnostics reuse the replayed step's buffers.
  await trainer.settlePrefetch();
  trainer.lendTemporaries();
  const model = graph.inference({
    seed: recipe.seed,
    replay: options.replay ?? stepReplayWanted(),
  });
  const { index, params } = run.diagnostics!;
  const source = run.state.evalSources?.of(index) ?? trainer.source;
  // The weights the final evaluation sees: the average's, unless it evaluates the raw ones.
  const average = recipe.train.ema?.evaluate === "raw" ? undefined : trainer.average;
  average?.swap();
  const report = await runDiagnostics(model, source, params)
    .finally(() => {
      model.dispose?.();
      average?.swap();
    });
  await appendMetrics(paths, { step, diagnostics: report.metrics });
  if (report.warning) run.progress.log(report.warning);
}

/**
 * What follows step `step` once no later step is in flight: tuning,
 * diagnostics, a checkpoint. True when the loop stops here.
 */
async function afterStep(run: LoopRun, step: number): Promise<boolean> {
  const { options, recipe } = run.state;
  const done = step + 1;
  await settleTuning(run, done);
  if (run.diagnostics && done % run.diagnostics.every === 0) await diagnose(run, step);
  const stopping = run.stopRequested() || done === options.stopAfter;
  if (done % recipe.train.checkpoint_every === 0 || done === recipe.train.steps || stopping) {
    await run.save(done);
  }
  return stopping;
}

/** After `done` steps the parameters are read or saved, or the loop stops (or tuning waits). */
function isBoundary(run: LoopRun, done: number): boolean {
  const { options, recipe, start } = run.state;
  return (run.tuning !== undefined && done === start + 1) || done === recipe.train.steps ||
    done === options.stopAfter || done % recipe.train.checkpoint_every === 0 ||
    (run.diagnostics !== undefined && done % run.diagnostics.every === 0) || run.stopRequested();
}

/** Runs steps `start…train.steps − 1`, saving checkpoints; see the module notes. */
export async function trainLoop(state: TrainLoopState): Promise<TrainLoopResult> {
  const { trainer, graph, paths, start, options, recipe } = state;
  const { steps, log_every } = recipe.train;
  // The recipe's fingerprint: a resume with another recipe is refused (core/checkpoint_load.ts).
  const training = recipe.yaml === undefined ? undefined : trainingRecipe(recipe.yaml);
  const metadata = {
    seed: String(recipe.seed),
    recipe: recipe.name,
    ...(training !== undefined &&
      { training_recipe: training, recipe_sha256: await sha256Hex(training) }),
  };
  let interrupted = false;
  const onSignal = () => (interrupted = true);
  Deno.addSignalListener("SIGINT", onSignal);
  const run: LoopRun = {
    state,
    progress: createProgress({ total: steps, start, every: log_every, quiet: options.quiet }),
    diagnostics: diagnosticsSchedule(recipe.eval),
    // The first step runs alone while its matmul shapes are recorded; they are tuned after it.
    tuning: options.autotune && start < steps
      ? startStepTuning(options.autotune.cacheDir)
      : undefined,
    save: (done) =>
      saveCheckpoint(paths.checkpoints, {
        step: done,
        parameters: graph.state(),
        optimizer: trainer.optimizer,
        ...(trainer.average && { average: trainer.average }),
        metadata,
      }),
    stopRequested: () => interrupted || options.signal?.aborted === true,
  };
  const pipeline = trainPipelineEnabled();
  const started = performance.now();
  let done = start;
  let next = start;
  let inFlight: PendingStep | undefined;
  try {
    while (inFlight || next < steps) {
      // Record the next step first unless the one in flight ends at a boundary.
      let finishing = inFlight;
      inFlight = undefined;
      if (next < steps && (!finishing || (pipeline && !isBoundary(run, finishing.step + 1)))) {
        const recorded = await trainer.begin(next++);
        if (!finishing) {
          if (pipeline && !isBoundary(run, next)) {
            inFlight = recorded;
            continue;
          }
          finishing = recorded;
        } else inFlight = recorded;
      }
      const metrics = await finishing!.metrics().catch((e) =>
        e instanceof NonFiniteError ? failNonFinite(run, e) : Promise.reject(e)
      );
      done = metrics.step + 1;
      run.progress.update(metrics);
      if (done % log_every === 0 || done === steps) await appendMetrics(paths, { ...metrics });
      // A stop requested while a later step was in flight: that step finishes first.
      if (inFlight) continue;
      if (await afterStep(run, metrics.step)) break;
    }
  } finally {
    run.tuning?.stop();
    // The tuned tilings belong to this run: a later run in the process starts from the rule.
    if (options.autotune) clearTunedChoices();
    await trainer.close();
    run.progress.stop();
    Deno.removeSignalListener("SIGINT", onSignal);
  }
  const seconds = (performance.now() - started) / 1000;
  const images = (done - start) * recipe.train.batch * recipe.train.accumulate;
  return {
    steps: done,
    finished: done === steps,
    imagesPerSecond: images / Math.max(seconds, 1e-9),
    interrupted,
  };
}
