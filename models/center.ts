/**
 * DINO's centring ({@link https://arxiv.org/abs/2104.14294 | arXiv 2104.14294},
 * §3.1): a node that subtracts a running centre from its input, `x − c`, the
 * centre an exponential moving average of the training batches' mean output,
 * `c ← m·c + (1 − m)·mean(x)` after every applied optimiser step (DINO:
 * m = 0.9, over every teacher view and sample). Applied to a momentum
 * teacher's prototype scores, before the sharpening softmax of
 * `self_distillation`, it keeps one prototype from dominating (collapse to a
 * single dimension) while sharpening keeps the targets from going uniform.
 *
 * The centre `<name>.center` `[K]` starts at 0 and is non-trainable state
 * (checkpointed, resumed). With `train.accumulate` the mean over every
 * micro-batch's rows is folded in, once per update (as one batch of them
 * would be). On WebGPU with novalab's kernels the update is the
 * fused in-place average of `core/average_update.ts`, inside the recorded
 * step, gated by its report.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import { moveAverages } from "../core/average_update.ts";
import type { Tensor, Variable } from "../core/tensor.ts";
import { MicroBatchPending } from "./micro_batch_pending.ts";

/** Options of a {@link Center} node. */
export interface CenterOptions {
  /** Width `K` of the last axis. */
  dim: number;
  /** Momentum `m` of the centre in [0, 1) (DINO: 0.9). */
  momentum: number;
}

/** `[..., K]` → `[..., K] − c`, with `c` the running mean of training batches. */
export class Center implements Module {
  /** None: the centre is not trained. */
  readonly parameters: Parameter[] = [];
  /** The centre `<name>.center` `[K]`. */
  readonly buffers: Parameter[];
  readonly #center: Variable;
  readonly #factor: Tensor;
  /** The training step's batch means (one per micro-batch), folded in by `afterStep`. */
  readonly #pending = new MicroBatchPending();

  /** Creates a zero centre under `name`. */
  constructor(readonly options: CenterOptions, readonly name: string) {
    const { dim, momentum } = options;
    if (!(Number.isFinite(momentum) && momentum >= 0 && momentum < 1)) {
      throw new RangeError(`node "${name}" (center): momentum must be in [0, 1), got ${momentum}`);
    }
    this.#center = tf.tidy(() => tf.variable(tf.zeros([dim]), false));
    this.#factor = tf.tensor1d([1 - momentum]);
    this.buffers = [{ name: `${name}.center`, variable: this.#center, decay: false }];
  }

  /** Subtracts the centre; in training, keeps the batch's mean for `afterStep`. */
  forward(inputs: NodeValue[], ctx: ForwardContext): Tensor {
    const x = inputs[0] as Tensor;
    const { dim } = this.options;
    if (!(x instanceof tf.Tensor) || x.shape.at(-1) !== dim) {
      const got = x instanceof tf.Tensor ? `[${x.shape.join(", ")}]` : "strings";
      throw new Error(`node "${this.name}" (center) expects scores [..., ${dim}], got ${got}`);
    }
    if (ctx.training && ctx.statistics !== false) {
      const mean = tf.tidy(() => tf.mean(tf.reshape(x, [-1, dim]), 0));
      this.#pending.add(mean, ctx, x.size / dim);
    }
    return tf.sub(x, this.#center);
  }

  /** Folds the training step's mean into the centre (not on a skipped step). */
  afterStep(guard?: Tensor): void {
    const taken = this.#pending.take();
    if (!taken) return;
    const { parts, weights } = taken;
    // The mean over every micro-batch's rows: the parts' means weighted by their rows.
    const total = weights.reduce((a, w) => a + w, 0);
    const mean = parts.length === 1
      ? parts[0]!
      : tf.tidy(() => tf.addN(parts.map((m, i) => tf.mul(m, weights[i]! / total))));
    try {
      moveAverages([{ average: this.#center, source: mean }], this.#factor, guard);
    } finally {
      tf.dispose([...parts, mean]);
    }
  }

  /** Forgets the last batch's mean (the compiler's dry runs leave one). */
  dropBatchStatistics(): void {
    this.#pending.clear();
  }

  /** Releases the centre and any pending mean. */
  dispose(): void {
    this.#pending.clear();
    this.#center.dispose();
    this.#factor.dispose();
  }
}
