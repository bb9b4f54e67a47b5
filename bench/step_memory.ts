/**
 * The tensor memory of a training step (`tf.memory().numBytes`, any backend):
 * its peak — the largest number of bytes alive after any kernel, read by
 * wrapping tfjs's engine's `runKernelFunc` (internal API of tfjs-core 4.22,
 * pinned) — and the bytes alive when the graph's losses start (the forward
 * pass's outputs and every tensor the gradient tape saved for the backward
 * pass). The largest over the steps watched; replayed WebGPU steps run no
 * JavaScript and repeat a recorded step, whose numbers count.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { CompiledGraph } from "../core/graph_run.ts";

/** A watch on the memory of the steps a graph trains. */
export interface StepMemoryWatch {
  /** The largest number of bytes alive after any kernel since the watch began. */
  peak(): number;
  /** The largest number of bytes alive when the losses started. */
  atLosses(): number;
  /** Stops watching (the engine and the graph are their own again). */
  detach(): void;
}

type KernelRunner = (...args: unknown[]) => unknown;

/**
 * Watches the kernels tfjs runs and `graph`'s `losses`.
 *
 * @param graph The compiled graph a trainer steps.
 * @returns The watch.
 */
export function watchStepMemory(graph: CompiledGraph): StepMemoryWatch {
  let peak = 0, atLosses = 0;
  const engine = tf.engine() as unknown as { runKernelFunc: KernelRunner };
  const runKernelFunc = engine.runKernelFunc;
  engine.runKernelFunc = function (this: unknown, ...args: unknown[]) {
    const out = runKernelFunc.apply(this, args);
    peak = Math.max(peak, tf.memory().numBytes);
    return out;
  };
  const losses = graph.losses;
  graph.losses = (...args: Parameters<CompiledGraph["losses"]>) => {
    atLosses = Math.max(atLosses, tf.memory().numBytes);
    return losses.apply(graph, args);
  };
  return {
    peak: () => peak,
    atLosses: () => atLosses,
    detach: () => {
      engine.runKernelFunc = runKernelFunc;
      graph.losses = losses;
    },
  };
}

/**
 * The most bytes of tensors alive after any kernel while `f` runs (the same
 * wrapping of tfjs-core 4.22's `engine.runKernelFunc` as {@linkcode watchStepMemory}).
 */
export function peakBytes(f: () => void): number {
  const engine = tf.engine() as unknown as { runKernelFunc: (...a: unknown[]) => unknown };
  const run = engine.runKernelFunc;
  let peak = 0;
  engine.runKernelFunc = function (this: unknown, ...args: unknown[]) {
    const out = run.apply(this, args);
    peak = Math.max(peak, tf.memory().numBytes);
    return out;
  };
  try {
    f();
  } finally {
    engine.runKernelFunc = run;
  }
  return peak;
}
