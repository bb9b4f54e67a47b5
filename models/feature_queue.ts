/**
 * A queue of past features — MoCo's dictionary
 * ({@link https://arxiv.org/abs/1911.05722 | arXiv 1911.05722}, §3.2) and
 * ALBEF's 65,536 momentum features
 * ({@link https://arxiv.org/abs/2107.07651 | arXiv 2107.07651}, §3.3): a
 * buffer `<name>.queue` `[K, D]` of the last K rows its input produced, the
 * oldest overwritten first. Its output is the queue as it stood before this
 * step (a constant: extra negatives for `clip`'s `image_queue`/`text_queue`);
 * after every applied update the step's rows — the input flattened to
 * `[N, D]`, N = its leading axes' product — are written after the last
 * step's, wrapping around (`models/queue_ring.ts`; under `train.accumulate`
 * every micro-batch's rows, in order: N = A·B, as one batch of A·B would
 * write). MoCo asserts K a multiple of N; here the rows wrap, and with N > K
 * the last K rows stay.
 *
 * The queue starts as random unit rows drawn from the node's seed (MoCo and
 * ALBEF start from `normalize(randn)`), and is checkpointed with the run; on
 * WebGPU its write is recorded and replayed with the step.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import type { Tensor } from "../core/tensor.ts";
import { RingQueueModule } from "./queue_ring.ts";
import type { ForwardContext, NodeValue } from "../core/types.ts";

/** Options of a {@link FeatureQueue}. */
export interface FeatureQueueOptions {
  /** Rows K. */
  size: number;
  /** Width D of a row. */
  dim: number;
  /** Seed of the initial random unit rows. */
  seed: number;
}

/** `[..., D]` → the queue `[K, D]` of earlier steps' rows. */
export class FeatureQueue extends RingQueueModule {
  /** Creates a queue of random unit rows under `name`. */
  constructor(readonly options: FeatureQueueOptions, name: string) {
    const { size, dim, seed } = options;
    const rng = new Rng(seed);
    const rows = Float32Array.from({ length: size * dim }, () => rng.normal());
    for (let r = 0; r < size; r++) {
      const row = rows.subarray(r * dim, (r + 1) * dim);
      const norm = Math.hypot(...row) || 1;
      for (let k = 0; k < dim; k++) row[k]! /= norm;
    }
    super(tf.tensor2d(rows, [size, dim]), name);
  }

  /** The queue before this step; in training, keeps the step's rows for `afterStep`. */
  forward(inputs: NodeValue[], ctx: ForwardContext): Tensor {
    const x = inputs[0];
    const { dim } = this.options;
    if (!(x instanceof tf.Tensor) || x.shape.at(-1) !== dim) {
      const got = x instanceof tf.Tensor ? `[${x.shape.join(", ")}]` : "strings";
      throw new Error(`node "${this.name}" (queue) expects features [..., ${dim}], got ${got}`);
    }
    this.ring.keep(ctx, () => tf.reshape(x, [x.size / dim, dim]));
    return tf.clone(this.ring.variable);
  }
}
