/**
 * The ViT training step of the PyTorch anchor (`shared/anchors/torch_vit_step.py`),
 * built from novalab's own parts: pre-LN ViT with biases and final norm, a
 * linear projection of the CLS token, L2 normalisation, MSE to fixed random
 * targets, Adam (AdamW with zero decay). Timed over `steps` after warm-up,
 * like the anchor: steps are issued back to back and only the last loss is
 * read (`syncEveryStep` reads every one).
 * On WebGPU it also counts dispatches and submits per step (by program class)
 * and the host time of a step: building the graph and recording its
 * dispatches, before waiting for the loss.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { countDispatches } from "../kernels/dispatch_count.ts";
import { submitPendingWork } from "../core/webgpu_device.ts";
import type { KernelProfiler } from "./kernel_profile.ts";
import { AdamW } from "../core/optim.ts";
import { applyLinear, createLinear, ParameterStore } from "../models/layers.ts";
import { l2Normalize } from "../models/simple.ts";
import { VisionTransformer } from "../models/vit.ts";
import { startStepTuning } from "../kernels/step_tuning.ts";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { ReplayableStep, type ReplayStats } from "../core/replayable_step.ts";
import { leanVariableGrads } from "../core/lean_gradients.ts";

/** Shape of the benchmarked model and batch (the anchor's flags). */
export interface VitStepOptions {
  /** Images per step. */
  batch: number;
  /** Image side in pixels. */
  img: number;
  /** Patch side. */
  patch: number;
  /** Embedding width. */
  dim: number;
  /** Blocks. */
  depth: number;
  /** Heads. */
  heads: number;
  /** Output projection width. */
  out: number;
  /** Timed steps (after 2 warm-up steps). */
  steps: number;
  /** MLP activation: `relu` (the anchor's, default) or `gelu` (novalab's ViT default). */
  activation?: "relu" | "gelu";
  /** Activation checkpointing of the blocks (`models/checkpoint.ts`; the anchor has none). */
  checkpoint?: boolean;
  /**
   * Read the loss after every timed step (waits for the device each step).
   * Default false, like the anchor: the host issues step k + 1 while the
   * device still runs step k, and only the last loss is read.
   */
  syncEveryStep?: boolean;
  /**
   * WebGPU: after the first warm-up step, time the matmul tilings of its
   * shapes and keep the fastest (`kernels/step_tuning.ts`), with
   * the cache in this directory (`""`: none).
   */
  autotune?: { cacheDir: string };
  /**
   * WebGPU: record the step once and replay it (`core/replayable_step.ts`);
   * the timed steps are replays (three more warm-up steps record it).
   */
  replay?: boolean;
}

/** Timing of the benchmark. */
export interface VitStepResult {
  /** Mean milliseconds per step. */
  msPerStep: number;
  /** Images per second. */
  imagesPerSecond: number;
  /** Final loss (sanity). */
  loss: number;
  /** With `autotune` on WebGPU: the tuning report's lines. */
  autotune?: string[];
  /** With `replay`: where the replayed step stands after the timed steps. */
  replay?: ReplayStats;
  /** Tensors alive before and after the timed steps (must be equal). */
  tensors: [number, number];
  /**
   * Mean milliseconds per step spent before waiting for the loss: forward,
   * backward and update built and their kernels issued (all of the step on
   * synchronous backends).
   */
  hostMsPerStep: number;
  /**
   * WebGPU only: GPU memory before the first and after the last timed step,
   * both on an idle device — bytes of live tensors, and bytes tfjs's buffer
   * pool holds (live + free buffers kept for reuse, what the device actually
   * has allocated) — and the pool's peak over the timed steps. Flat: see
   * {@linkcode gpuMemoryFlat}.
   */
  gpuMemory?: {
    liveBytes: [number, number];
    pooledBytes: [number, number];
    peakPooledBytes: number;
  };
  /** WebGPU only: what one step sends to the device. */
  webgpu?: {
    /** Compute dispatches per step. */
    dispatchesPerStep: number;
    /** Queue submits per step. */
    submitsPerStep: number;
    /**
     * Milliseconds per step spent inside the submits made while the step is
     * issued (part of the host time; the submit of the loss read is not counted).
     */
    submitMsPerStep: number;
    /** Dispatches per step by program class, most first. */
    byProgram: [string, number][];
  };
}

/**
 * Whether a run's GPU memory is flat: equal live bytes and an equal buffer
 * pool before the first and after the last timed step.
 */
export function gpuMemoryFlat(m: NonNullable<VitStepResult["gpuMemory"]>): boolean {
  return m.liveBytes[1] === m.liveBytes[0] && m.pooledBytes[1] === m.pooledBytes[0];
}

interface GpuMemory {
  live: number;
  pooled: number;
}

/** tfjs-backend-webgpu's memory counters (its `memory()` adds them to tfjs's). */
function gpuMemory(): GpuMemory {
  const m = tf.memory() as tf.MemoryInfo & {
    numBytesInGPU?: number;
    numBytesAllocatedInGPU?: number;
  };
  return { live: m.numBytesInGPU ?? 0, pooled: m.numBytesAllocatedInGPU ?? 0 };
}

/**
 * Runs the anchor's ViT step on the active tfjs backend. A `profiler`
 * (`bench/kernel_profile.ts`) is reset after the warm-up steps and told when
 * each step enters its `forward`, `backward` and `optimizer` phases and when it
 * leaves them (`other`: reading the loss, disposing).
 */
export async function benchVitStep(
  o: VitStepOptions,
  profiler?: Pick<KernelProfiler, "phase" | "reset">,
): Promise<VitStepResult> {
  const onPhase = (phase: string) => profiler?.phase(phase);
  const vit = new VisionTransformer(
    {
      patch: o.patch,
      dim: o.dim,
      depth: o.depth,
      heads: o.heads,
      mlpRatio: 4,
      activation: o.activation ?? "relu",
      ...(o.checkpoint && { checkpoint: true }),
    },
    { height: o.img, width: o.img, channels: 3 },
    { name: "vit", seed: 0 },
  );
  const store = new ParameterStore("proj", 1);
  const proj = createLinear(store, "head", { inDim: o.dim, outDim: o.out });
  const params = [...vit.parameters, ...store.parameters];
  const optimizer = new AdamW(params, { weightDecay: 0 });
  const images = tf.randomNormal([o.batch, o.img, o.img, 3], 0, 1, "float32", 2);
  const target = tf.tidy(() => l2Normalize(tf.randomNormal([o.batch, o.out], 0, 1, "float32", 3)));
  const ctx = { training: true, step: 0, seed: 0 };
  const byVar = new Map(params.map((p) => [p.variable.name, p.name]));
  let hostMs = 0, hostSubmitMs = 0;
  const counter = tf.getBackend() === "webgpu"
    ? countDispatches(tf.backend() as WebGPUBackend)
    : undefined;
  /** The step's work: forward, backward, update; returns the loss (the gradients are disposed). */
  const compute = ([x, y]: tf.Tensor[]): tf.Tensor[] => {
    onPhase("forward");
    const { value, grads } = leanVariableGrads(() => {
      const z = l2Normalize(applyLinear(proj, vit.forward([x!], ctx) as Tensor));
      const loss = tf.mean(tf.square(tf.sub(z, y!))) as Scalar;
      onPhase("backward");
      return loss;
    }, params.map((p) => p.variable));
    onPhase("optimizer");
    optimizer.apply(new Map(Object.entries(grads).map(([k, g]) => [byVar.get(k)!, g])), 1e-4);
    tf.dispose(Object.values(grads));
    return [value];
  };
  const replayed = o.replay ? new ReplayableStep(compute) : undefined;
  /** Issues one step; returns its loss, read (a wait for the device) only when `read`. */
  const step = async (read: boolean): Promise<number> => {
    const t0 = performance.now();
    const s0 = (counter?.read().submitMs ?? 0) + (replayed?.stats.submitMs ?? 0);
    const [value] = replayed ? replayed.run([images, target]) : compute([images, target]);
    hostMs += performance.now() - t0;
    hostSubmitMs += (counter?.read().submitMs ?? 0) + (replayed?.stats.submitMs ?? 0) - s0;
    onPhase("other");
    // Every step ends in a submit: the optimizer's dispatches start now, and every step splits
    // into the same submits (else their boundaries drift and the pool grows for dozens of steps).
    submitPendingWork();
    const loss = read ? (await value!.data())[0]! : NaN;
    // Disposing tensors the device still works on is safe: tfjs frees them after their submit.
    value!.dispose();
    return loss;
  };
  // Warm-up: compiles every pipeline, and ends in a read, so the timing starts on an idle device.
  const tuning = o.autotune ? startStepTuning(o.autotune.cacheDir) : undefined;
  await step(true);
  const tuned = (await tuning?.finish())?.lines;
  await step(true);
  // With replay: record twice, replay once, so the timed steps are replays.
  if (replayed) { for (let i = 0; i < 3; i++) await step(true); }
  const replaysBefore = replayed?.stats.replays ?? 0;
  counter?.reset();
  profiler?.reset();
  hostMs = 0;
  hostSubmitMs = 0;
  const before = tf.memory().numTensors;
  // Sampled on an idle device (after the warm-up's read), then after each step; the last
  // sample follows the last read. Live bytes in between count tensors freed with pending work.
  const gpu: GpuMemory[] = counter ? [gpuMemory()] : [];
  const t0 = performance.now();
  let loss = NaN;
  for (let i = 0; i < o.steps; i++) {
    loss = await step(o.syncEveryStep === true || i === o.steps - 1);
    if (counter) gpu.push(gpuMemory());
  }
  const ms = (performance.now() - t0) / o.steps;
  const after = tf.memory().numTensors;
  const counts = counter?.read();
  counter?.detach();
  const replay = replayed?.stats;
  replayed?.dispose();
  if (counts && replay?.mode === "replaying") {
    const timed = replay.replays - replaysBefore;
    counts.dispatches += replay.dispatches * timed;
    counts.submits += replay.submits * timed;
    counts.byProgram["(replayed)"] = replay.dispatches * timed;
  }
  tf.dispose([images, target]);
  optimizer.dispose();
  vit.dispose();
  store.parameters.forEach((p) => p.variable.dispose());
  const perStep = (n: number) => n / o.steps;
  return {
    msPerStep: ms,
    imagesPerSecond: (o.batch / ms) * 1000,
    loss,
    tensors: [before, after],
    hostMsPerStep: hostMs / o.steps,
    ...(tuned && { autotune: tuned }),
    ...(replay && { replay }),
    ...(gpu.length > 0 && {
      gpuMemory: {
        liveBytes: [gpu[0]!.live, gpu.at(-1)!.live],
        pooledBytes: [gpu[0]!.pooled, gpu.at(-1)!.pooled],
        peakPooledBytes: Math.max(...gpu.map((m) => m.pooled)),
      },
    }),
    ...(counts && {
      webgpu: {
        dispatchesPerStep: perStep(counts.dispatches),
        submitsPerStep: perStep(counts.submits),
        submitMsPerStep: perStep(hostSubmitMs),
        byProgram: Object.entries(counts.byProgram).map((
          [k, v],
        ): [string, number] => [k, perStep(v)])
          .sort((a, b) => b[1] - a[1]),
      },
    }),
  };
}
