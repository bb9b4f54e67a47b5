/**
 * `deno task bench train <recipe>`: ms/step and samples/s of a recipe's real
 * training step (its data, graph, losses and optimizer, at the recipe's
 * `precision:`), with dispatches and submits per step on WebGPU and, with
 * `profile`, the GPU time of every kernel (`core/gpu_profile.ts`) or, on
 * WASM and CPU, each kernel's wall time (`bench/kernel_profile.ts`), and the
 * tensor memory of a step, its peak and what it keeps for the backward pass
 * (`bench/step_memory.ts`). Steps are
 * timed as `deno task run` trains: step k + 1 is recorded before step k's
 * metrics are read (`NOVALAB_TRAIN_PIPELINE=0`: each step read first).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { applyPrecision, type BackendChoice, initBackend } from "../core/backend.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe, defaultCacheDir } from "../core/run.ts";
import { type PendingStep, Trainer } from "../core/trainer.ts";
import { TRAIN_PIPELINE_ENV, trainPipelineEnabled } from "../core/train_loop.ts";
import { countDispatches } from "../kernels/dispatch_count.ts";
import { type GpuProfiler, profileGpuDispatches } from "../core/gpu_profile.ts";
import { formatGpuProfile } from "./gpu_profile_format.ts";
import { formatProfile, profileKernels } from "./kernel_profile.ts";
import { startStepTuning } from "../kernels/step_tuning.ts";
import type { WeightAverage } from "../core/weight_average.ts";
import { submitPendingWork } from "../core/webgpu_device.ts";
import { watchStepMemory } from "./step_memory.ts";

/** Options of {@linkcode benchTrain}. */
export interface TrainBenchOptions {
  /** `key=value` overrides of the recipe. */
  set: string[];
  /** Timed steps (after one warm-up step). */
  steps: number;
  /** Backend choice (`auto`, `webgpu`, `wasm`, `cpu`). */
  backend: BackendChoice;
  /** WebGPU: time every dispatch on the GPU (`--profile`). */
  profile?: boolean;
  /** With `profile`: key kernels by their shapes too. */
  profileShapes?: boolean;
  /** WebGPU: tune the matmul tilings of the warm-up step's shapes (`--autotune`). */
  autotune?: boolean;
  /** WebGPU: record the step and replay it (the CLI default; `--no-replay`); 3 more warm-up steps. */
  replay?: boolean;
}

/** Runs and prints the training-step benchmark of the recipe at `recipePath`. */
export async function benchTrain(recipePath: string, o: TrainBenchOptions): Promise<void> {
  const recipe = await loadRunnable(recipePath, o.set);
  const info = await initBackend(o.backend);
  applyPrecision(recipe.precision ?? "fp32", info);
  const { graph, source } = await buildRecipe(recipe, defaultCacheDir());
  const trainer = new Trainer(graph, source, {
    config: recipe.train,
    seed: recipe.seed,
    replay: o.replay === true,
  });
  const tuning = o.autotune ? startStepTuning(defaultCacheDir()) : undefined;
  const memory = watchStepMemory(graph);
  await trainer.step(0);
  for (const line of (await tuning?.finish())?.lines ?? []) console.log(line);
  // With replay: record twice, replay once, so the timed steps are replays (steps 1–3 warm up).
  const first = o.replay ? 4 : 1;
  for (let s = 1; s < first; s++) await trainer.step(s);
  const replaysBefore = trainer.replayStats?.replays ?? 0;
  const replaySubmitMs = trainer.replayStats?.submitMs ?? 0;
  const backend = info.name === "webgpu" ? tf.backend() as WebGPUBackend : undefined;
  // WASM/CPU: kernels run synchronously, so each one's wall time is its cost.
  const kernelProfiler = o.profile && !backend
    ? profileKernels(undefined, { shapes: o.profileShapes === true })
    : undefined;
  const profiler: GpuProfiler | undefined = o.profile && backend
    ? profileGpuDispatches(backend, { shapes: o.profileShapes === true })
    : undefined;
  const counter = backend ? countDispatches(backend) : undefined;
  // As `deno task run` trains: step k + 1 is recorded before step k's metrics are read.
  const pipeline = trainPipelineEnabled();
  const t0 = performance.now();
  let pending: PendingStep | undefined;
  // Host time recording steps (data, forward, backward, update) and waiting for reports.
  let recordMs = 0, waitMs = 0;
  const timed = async <T>(f: () => Promise<T>, add: (ms: number) => void): Promise<T> => {
    const start = performance.now();
    const out = await f();
    add(performance.now() - start);
    return out;
  };
  const finish = (step?: PendingStep) =>
    timed(async () => await step?.metrics(), (d) => waitMs += d);
  for (let s = first; s < first + o.steps; s++) {
    if (!pipeline) await finish(pending);
    const recorded = await timed(() => trainer.begin(s), (d) => recordMs += d);
    if (pipeline) await finish(pending);
    pending = recorded;
  }
  await finish(pending);
  const ms = (performance.now() - t0) / o.steps;
  const batch = recipe.train.batch * recipe.train.accumulate;
  console.log(
    `${recipe.name} on ${info.name} (${info.precision})${profiler ? " profiled" : ""}: ${
      ms.toFixed(1)
    } ms/step, ${(batch / ms * 1000).toFixed(1)} samples/s (batch ${batch}; ${
      pipeline ? "one step in flight" : `each step read first, ${TRAIN_PIPELINE_ENV}=0`
    })`,
  );
  memory.detach();
  const mib = (bytes: number) => (bytes / 2 ** 20).toFixed(1);
  console.log(
    `  memory: ${mib(memory.peak())} MiB of tensors at the step's peak, ${
      mib(memory.atLosses())
    } MiB when the losses start (what the tape keeps for backward); largest step`,
  );
  const replay = trainer.replayStats;
  if (replay) {
    console.log(
      replay.mode === "replaying"
        ? `  replayed: ${replay.replays - replaysBefore} timed steps, ${replay.dispatches} ` +
          `dispatches and ${replay.submits} submit${replay.submits === 1 ? "" : "s"} each`
        : `  not replayed (${replay.mode}): ${replay.reason}`,
    );
  }
  if (counter) {
    const c = counter.read();
    counter.detach();
    if (replay?.mode === "replaying") {
      const n = replay.replays - replaysBefore;
      c.dispatches += replay.dispatches * n;
      c.submits += replay.submits * n;
      c.submitMs += replay.submitMs - replaySubmitMs;
      c.byProgram["(replayed)"] = replay.dispatches * n;
    }
    const top = Object.entries(c.byProgram).sort((a, b) => b[1] - a[1])
      .map(([p, n]) => `${p} ${+(n / o.steps).toFixed(1)}`).join(", ");
    console.log(
      `  ${+(c.dispatches / o.steps).toFixed(1)} dispatches/step, ` +
        `${+(c.submits / o.steps).toFixed(1)} submits/step (data loading included)`,
    );
    // Recording minus submits ≈ ms/step means the host, not the device, sets the pace.
    const per = (x: number) => (x / o.steps).toFixed(1);
    console.log(
      `  host per step: ${per(recordMs)} ms recording (${per(c.submitMs)} inside queue ` +
        `submits), ${per(waitMs)} ms waiting for step reports`,
    );
    console.log(`  by program: ${top}`);
  }
  if (profiler) {
    const stats = await profiler.read();
    profiler.detach();
    console.log(formatGpuProfile(stats, o.steps, ms));
  }
  if (kernelProfiler) {
    kernelProfiler.detach();
    console.log(formatProfile(kernelProfiler.read(), o.steps, ms, 25));
  }
  await trainer.close();
  if (trainer.average) await timeAverageUpdate(trainer.average, trainer.optimizer.step);
  trainer.optimizer.dispose();
  trainer.average?.dispose();
  graph.dispose();
  source.dispose();
}

/**
 * With `train.ema`: the weight average's update on its own (part of every
 * timed step above), 50 times after 5 untimed, finished on the device.
 */
async function timeAverageUpdate(average: WeightAverage, step: number): Promise<void> {
  // WASM and the CPU compute as they go; WebGPU: until the queue has run the dispatches.
  const done = async () => {
    if (tf.getBackend() !== "webgpu") return;
    submitPendingWork();
    await (tf.backend() as WebGPUBackend).device.queue.onSubmittedWorkDone();
  };
  let n = step;
  for (let i = 0; i < 5; i++) average.update(() => ++n);
  await done();
  const start = performance.now();
  for (let i = 0; i < 50; i++) average.update(() => ++n);
  await done();
  const ms = (performance.now() - start) / 50;
  console.log(`  weight average: ${ms.toFixed(2)} ms per update (${average.names.length} tensors)`);
}
