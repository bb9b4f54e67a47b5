/**
 * The inference graph with each (node, batch shape) call replayed on WebGPU
 * (`core/replayable_step.ts`): an evaluation embeds a split batch after batch
 * through the same forward pass, so from the fourth batch of a shape on the
 * forward is issued without tfjs's per-op host work. Caption lists are the
 * replayed calls' host inputs (a frozen text tower embeds each batch's own),
 * the inference seed their seed. Other backends, and calls that cannot be
 * replayed, run as written.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { InferenceModel } from "./components.ts";
import { ReplayableStep } from "./replayable_step.ts";
import type { NodeValue } from "./types.ts";
import type { Tensor } from "./tensor.ts";

/** Runs `target` on `batch` as written (the inference graph's forward pass). */
export type InferenceForward = (target: string, batch: Record<string, NodeValue>) => Tensor;

/** One replayable call form: the node and the batch's field names, shapes and kinds. */
function callKey(target: string, batch: Record<string, NodeValue>): string {
  const fields = Object.keys(batch).sort().map((name) => {
    const v = batch[name]!;
    return Array.isArray(v) ? `${name}:${v.length} strings` : `${name}:${v.dtype}[${v.shape}]`;
  });
  return `${target}(${fields.join(", ")})`;
}

/** An {@linkcode InferenceModel} that replays its calls on WebGPU; dispose it when done. */
export class ReplayedInference implements InferenceModel {
  #forward: InferenceForward;
  #seed: number;
  #steps = new Map<string, ReplayableStep>();
  #current: Record<string, NodeValue> = {};
  #disposed = false;

  /** Replays `forward` (seed `seed` for anything its nodes draw). */
  constructor(forward: InferenceForward, seed: number) {
    this.#forward = forward;
    this.#seed = seed;
  }

  /** Evaluates `target` on `batch`; the caller disposes the result. */
  run(target: string, batch: Record<string, NodeValue>): Promise<Tensor> {
    return Promise.resolve().then(() => {
      if (this.#disposed) {
        throw new Error(
          "core/inference_replay.ts: this inference model was disposed; make a new one with " +
            "graph.inference({ seed, replay: true })",
        );
      }
      if (tf.getBackend() !== "webgpu") {
        this.#release(); // what replays hold belongs to the WebGPU backend
        return this.#forward(target, batch);
      }
      const names = Object.keys(batch).sort();
      const tensors = names.filter((n) => !Array.isArray(batch[n])).map((n) => batch[n] as Tensor);
      const strings = names.filter((n) => Array.isArray(batch[n])).map((n) => batch[n]!);
      const key = callKey(target, batch);
      // Only the call running holds its temporaries: the other forms lend theirs to the pool
      // (an evaluation alternates image and text calls), and take them back when they run.
      for (const [other, step] of this.#steps) if (other !== key) step.lend();
      let step = this.#steps.get(key);
      if (!step) {
        step = new ReplayableStep(() => [this.#forward(target, this.#current)]);
        this.#steps.set(key, step);
      }
      this.#current = batch;
      try {
        return step.run(tensors, { seeds: [this.#seed], inputs: strings })[0]!;
      } finally {
        this.#current = {};
      }
    });
  }

  /** How each call form ran: replays, recordings, or why it was not replayed. */
  get stats(): Record<string, ReplayableStep["stats"]> {
    return Object.fromEntries([...this.#steps].map(([key, step]) => [key, step.stats]));
  }

  /** Gives back what the replayed calls hold (buffers, references); the model is done. */
  dispose(): void {
    this.#release();
    this.#disposed = true;
  }

  #release(): void {
    for (const step of this.#steps.values()) step.dispose();
    this.#steps.clear();
  }
}
