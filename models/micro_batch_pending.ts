/**
 * Batch data a node keeps from its training forward for its `afterStep` —
 * a queue's rows, the centre's batch mean — over every micro-batch of one
 * optimiser step (`train.accumulate`): the first micro-batch (`ctx.micro`
 * 0), or a call outside a step (a dry run), starts afresh, later ones add to
 * it. So a step of A micro-batches of N rows writes A·N rows, as one batch of
 * A·N would, and a skipped or failed step's data never reaches the next one.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "../core/tensor.ts";
import type { ForwardContext } from "../core/types.ts";

/** What a step's micro-batches left: one part each, with its weight (its rows). */
export interface PendingParts {
  /** One tensor per micro-batch, in order (the caller disposes them). */
  parts: Tensor[];
  /** Each part's weight, e.g. the rows it stands for. */
  weights: number[];
}

/** The parts kept since the step's first micro-batch. */
export class MicroBatchPending {
  #parts: Tensor[] = [];
  #weights: number[] = [];

  /**
   * Keeps `part` (with `tf.keep`): after the step's earlier micro-batches, or
   * alone when `ctx` is the first micro-batch or no step's.
   *
   * @param part The micro-batch's data.
   * @param ctx The forward's context (its `micro`).
   * @param weight What the part stands for (its rows; default 1).
   */
  add(part: Tensor, ctx: Pick<ForwardContext, "micro">, weight = 1): void {
    if (!ctx.micro) this.clear();
    this.#parts.push(tf.keep(part));
    this.#weights.push(weight);
  }

  /** The kept parts, handed over (forgotten here); `undefined` when there are none. */
  take(): PendingParts | undefined {
    if (this.#parts.length === 0) return undefined;
    const taken = { parts: this.#parts, weights: this.#weights };
    this.#parts = [];
    this.#weights = [];
    return taken;
  }

  /** The parts as rows one after the other (`concat` on axis 0), handed over. */
  takeRows(): Tensor | undefined {
    const taken = this.take();
    if (!taken) return undefined;
    if (taken.parts.length === 1) return taken.parts[0];
    const rows = tf.concat(taken.parts);
    tf.dispose(taken.parts);
    return rows;
  }

  /** Disposes and forgets the kept parts. */
  clear(): void {
    tf.dispose(this.#parts);
    this.#parts = [];
    this.#weights = [];
  }
}
