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
import type { CompiledGraph } from "./graph_run.ts";
import { writeJsonAtomic } from "./atomic.ts";
import { createProgress } from "./progress.ts";
import { diagnosticsSchedule, runDiagnostics } from "../eval/diagnostics.ts";
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
  /** The run directory. */
  paths: RunPaths;
  /** First step to run (0, or the step a resumed checkpoint reached). */
  start: number;
  /** The recipe's seed and name (checkpoint metadata), its training and eval settings. */
  recipe: {
    seed: number;
    name: string;
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

/** Runs steps `start…train.steps − 1`, saving checkpoints; see the module notes. */
export async function trainLoop(state: TrainLoopState): Promise<TrainLoopResult> {
  const { trainer, graph, paths, start, options, recipe } = state;
  const { steps, log_every, checkpoint_every } = recipe.train;
  const metadata = { seed: String(recipe.seed), recipe: recipe.name };
  const save = (done: number) =>
    saveCheckpoint(paths.checkpoints, {
      step: done,
      parameters: graph.state(),
      optimizer: trainer.optimizer,
      metadata,
    });
  let interrupted = false;
  const onSignal = () => (interrupted = true);
  Deno.addSignalListener("SIGINT", onSignal);
  const progress = createProgress({ total: steps, start, every: log_every, quiet: options.quiet });
  const diagnostics = diagnosticsSchedule(recipe.eval);
  const pipeline = trainPipelineEnabled();
  const stopRequested = () => interrupted || options.signal?.aborted === true;
  // The first step runs alone while its matmul shapes are recorded; they are tuned after it.
  let tuning = options.autotune && start < steps
    ? startStepTuning(options.autotune.cacheDir)
    : undefined;
  /** After `done` steps the parameters are read or saved, or the loop stops (or tuning waits). */
  const boundary = (done: number) =>
    (tuning !== undefined && done === start + 1) || done === steps || done === options.stopAfter ||
    done % checkpoint_every === 0 ||
    (diagnostics !== undefined && done % diagnostics.every === 0) || stopRequested();
  const started = performance.now();
  let done = start;
  let next = start;
  let inFlight: PendingStep | undefined;
  try {
    while (inFlight || next < steps) {
      // Record the next step first unless the one in flight ends at a boundary.
      let finishing = inFlight;
      inFlight = undefined;
      if (next < steps && (!finishing || (pipeline && !boundary(finishing.step + 1)))) {
        const recorded = await trainer.begin(next++);
        if (!finishing) {
          if (pipeline && !boundary(next)) {
            inFlight = recorded;
            continue;
          }
          finishing = recorded;
        } else inFlight = recorded;
      }
      let metrics;
      try {
        metrics = await finishing!.metrics();
      } catch (e) {
        if (!(e instanceof NonFiniteError)) throw e;
        const file = await save(e.step);
        await writeJsonAtomic(paths.failure, {
          step: e.step,
          report: e.report,
          kept_checkpoint: file,
        });
        progress.stop();
        throw new Error(
          `${e.message}\nLast good parameters saved to ${file}; report in ${paths.failure}`,
        );
      }
      done = metrics.step + 1;
      progress.update(metrics);
      if (done % log_every === 0 || done === steps) await appendMetrics(paths, { ...metrics });
      // A stop requested while a later step was in flight: that step finishes first.
      if (inFlight) continue;
      if (tuning && (done === steps || stopRequested() || done === options.stopAfter)) {
        tuning.stop(); // no step left to run with the tuned choices
        tuning = undefined;
      }
      if (tuning) {
        const { lines, record } = await tuning.finish();
        for (const line of lines) progress.log(line);
        await writeJsonAtomic(paths.autotune, record);
        tuning = undefined;
      }
      if (diagnostics && done % diagnostics.every === 0) {
        trainer.lendTemporaries(); // the diagnostics reuse the replayed step's buffers
        const model = graph.inference({
          seed: recipe.seed,
          replay: options.replay ?? stepReplayWanted(),
        });
        const report = await runDiagnostics(model, trainer.source, diagnostics.params)
          .finally(() => model.dispose?.());
        await appendMetrics(paths, { step: metrics.step, diagnostics: report.metrics });
        if (report.warning) progress.log(report.warning);
      }
      const stopping = stopRequested() || done === options.stopAfter;
      if (done % checkpoint_every === 0 || done === steps || stopping) await save(done);
      if (stopping) break;
    }
  } finally {
    tuning?.stop();
    // The tuned tilings belong to this run: a later run in the process starts from the rule.
    if (options.autotune) clearTunedChoices();
    await trainer.close();
    progress.stop();
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
