/**
 * The tensor memory a training step keeps for its backward pass: the bytes
 * alive (`tf.memory().numBytes`, any backend) when the graph's losses start —
 * the forward pass's outputs and every tensor the gradient tape saved, the
 * step's high-water mark before gradients are computed. The largest over the
 * steps watched; replayed WebGPU steps run no JavaScript and repeat a
 * recorded step, whose number counts.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { CompiledGraph } from "../core/graph_run.ts";

/** A watch on a graph's forward-pass memory. */
export interface ForwardMemoryWatch {
  /** The largest number of bytes alive when the losses started, since the watch began. */
  read(): number;
  /** Stops watching (the graph's `losses` is its own again). */
  detach(): void;
}

/**
 * Watches `graph`: every call of its `losses` notes the bytes alive then.
 *
 * @param graph The compiled graph a trainer steps.
 * @returns The watch.
 */
export function watchForwardMemory(graph: CompiledGraph): ForwardMemoryWatch {
  let largest = 0;
  const own = graph.losses;
  graph.losses = (...args: Parameters<CompiledGraph["losses"]>) => {
    largest = Math.max(largest, tf.memory().numBytes);
    return own.apply(graph, args);
  };
  return {
    read: () => largest,
    detach: () => {
      graph.losses = own;
    },
  };
}
