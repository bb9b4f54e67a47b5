/**
 * Batch normalisation over every axis but the last (so `[V, B, D]` inputs are
 * normalised over views and batch together), with PyTorch's conventions:
 * biased batch variance for normalising, unbiased for the running estimate,
 * `running ← (1 − momentum)·running + momentum·batch`, ε = 1e-5.
 *
 * The running statistics are buffers (saved in checkpoints, never optimised).
 * They are folded in by `afterStep()`, once per optimiser step, from the
 * step's training forward pass — under `train.accumulate` the statistics of
 * every micro-batch's rows pooled, as one batch of them would give (PyTorch
 * instead folds each micro-batch in, one momentum step each) — dry runs and
 * evaluation never touch them.
 *
 * `apply(x, training, activation)` also applies the activation that follows
 * the norm in an MLP head; in training on WebGPU with novalab's kernels both
 * are one fused kernel forward and one backward (`kernels/batchnorm.ts`),
 * elsewhere the op composition.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Parameter } from "../core/types.ts";
import type { Tensor, Variable } from "../core/tensor.ts";
import { ACTIVATIONS, type ParameterStore } from "./layers.ts";
import {
  batchNormActivation,
  fusedBatchNormActive,
  updateRunningStatistics,
} from "../kernels/batchnorm.ts";
import { ownBuffer } from "../kernels/in_place.ts";
import { novalabKernelsActive } from "../kernels/install.ts";
import { MicroBatchPending } from "./micro_batch_pending.ts";

/** Whether and how a training `apply` keeps its batch statistics for `afterStep`. */
export interface KeepStatistics {
  /** False for a momentum teacher's forward (default true). */
  remember?: boolean;
  /** The micro-batch of the optimiser step (`ForwardContext.micro`): 0 or absent starts afresh. */
  micro?: number;
}

/** A batch-norm layer over a last axis of width `dim`. */
export class BatchNorm {
  /** Scale γ `[D]`. */
  readonly weight: Variable;
  /** Shift β `[D]`. */
  readonly bias: Variable;
  /** Running statistics (`running_mean`, `running_var`), not trainable. */
  readonly buffers: Parameter[];
  readonly #mean: Variable;
  readonly #var: Variable;
  /** The step's batch means, one per micro-batch, weighted by their rows. */
  readonly #means = new MicroBatchPending();
  /** The step's biased batch variances, beside `#means`. */
  readonly #variances = new MicroBatchPending();

  /** Creates γ = 1, β = 0, running mean 0 and variance 1 under `name`. */
  constructor(
    store: ParameterStore,
    name: string,
    readonly options: { dim: number; momentum?: number; eps?: number },
  ) {
    this.weight = store.add(`${name}.weight`, tf.ones([options.dim]), false);
    this.bias = store.add(`${name}.bias`, tf.zeros([options.dim]), false);
    // Inside tidy: the zeros/ones the variables are made from are released (no leak per build).
    this.#mean = tf.tidy(() => tf.variable(tf.zeros([options.dim]), false));
    this.#var = tf.tidy(() => tf.variable(tf.ones([options.dim]), false));
    this.buffers = [
      { name: `${store.prefix}.${name}.running_mean`, variable: this.#mean, decay: false },
      { name: `${store.prefix}.${name}.running_var`, variable: this.#var, decay: false },
    ];
  }

  /**
   * Normalises `[..., D]` with batch statistics (training) or running ones
   * (inference), then applies `activation` (a name in `ACTIVATIONS`; none by default).
   * In training the batch's statistics are kept for `afterStep` (with those of
   * the step's earlier micro-batches when `keep.micro` > 0) unless
   * `keep.remember` is false (a momentum teacher's: its running statistics
   * follow its source's).
   */
  apply(x: Tensor, training: boolean, activation?: string, keep: KeepStatistics = {}): Tensor {
    const remember = keep.remember ?? true;
    const eps = this.options.eps ?? 1e-5;
    const dim = this.options.dim;
    const act = activation === undefined ? undefined : ACTIVATIONS[activation];
    if (activation !== undefined && !act) {
      throw new Error(
        `models/batchnorm.ts: activation '${activation}' is unknown; ` +
          `valid: ${Object.keys(ACTIVATIONS).join(", ")}`,
      );
    }
    const flat = x.reshape([-1, dim]);
    const fusable = activation ?? "identity";
    if (training && fusedBatchNormActive(flat, fusable)) {
      const fused = batchNormActivation(flat, this.weight, this.bias, eps, fusable);
      if (remember) this.#remember(fused.mean, fused.variance, flat.shape[0]!, keep.micro);
      else tf.dispose([fused.mean, fused.variance]);
      return fused.y.reshape(x.shape);
    }
    let mean: Tensor = this.#mean, variance: Tensor = this.#var;
    if (training) {
      const moments = tf.moments(flat, 0);
      mean = moments.mean;
      variance = moments.variance;
      if (remember) {
        this.#remember(tf.clone(mean), tf.clone(variance), flat.shape[0]!, keep.micro);
      }
    }
    const normed = tf.mul(tf.sub(flat, mean), tf.rsqrt(tf.add(variance, eps)));
    const y = tf.add(tf.mul(normed, this.weight), this.bias).reshape(x.shape);
    return act ? act(y) : y;
  }

  #remember(mean: Tensor, variance: Tensor, rows: number, micro?: number): void {
    this.#means.add(mean, { micro }, rows);
    this.#variances.add(variance, { micro }, rows);
  }

  /** The step's mean, biased variance and rows: its micro-batches' pooled. */
  #taken(): { mean: Tensor; variance: Tensor; rows: number } | undefined {
    const means = this.#means.take(), variances = this.#variances.take();
    if (!means || !variances) return undefined;
    const weights = means.weights, rows = weights.reduce((a, w) => a + w, 0);
    if (means.parts.length === 1) {
      return { mean: means.parts[0]!, variance: variances.parts[0]!, rows };
    }
    // Σ nᵢ μᵢ / N, and Σ nᵢ (σᵢ² + (μᵢ − μ)²) / N: the rows' mean and biased variance.
    const [mean, variance] = tf.tidy(() => {
      const mu = tf.addN(means.parts.map((m, i) => tf.mul(m, weights[i]! / rows)));
      const spread = variances.parts.map((v, i) =>
        tf.mul(tf.add(v, tf.square(tf.sub(means.parts[i]!, mu))), weights[i]! / rows)
      );
      return [mu, tf.addN(spread)];
    });
    tf.dispose([...means.parts, ...variances.parts]);
    return { mean: mean!, variance: variance!, rows };
  }

  /**
   * Folds the step's batch statistics into the running ones (unbiased
   * variance). With `guard`, a step report (`core/step_guard.ts`) whose `ok` is
   * 0, the running statistics stay as they were (the step was skipped).
   */
  afterStep(guard?: Tensor): void {
    const taken = this.#taken();
    if (!taken) return;
    const m = this.options.momentum ?? 0.1;
    const { mean, variance, rows } = taken;
    const unbiased = rows > 1 ? rows / (rows - 1) : 1;
    tf.tidy(() => {
      if (novalabKernelsActive() && mean.dtype === "float32") {
        // One dispatch for both estimates on WebGPU (the composition below takes six).
        ownBuffer(this.#mean);
        ownBuffer(this.#var);
        const running = { mean: this.#mean, variance: this.#var };
        updateRunningStatistics(running, { mean, variance }, m, unbiased, guard); // in place
        return;
      }
      let nextMean = tf.add(tf.mul(this.#mean, 1 - m), tf.mul(mean, m));
      let nextVariance = tf.add(tf.mul(this.#var, 1 - m), tf.mul(variance, m * unbiased));
      if (guard) {
        const open = tf.notEqual(tf.reshape(tf.slice(guard, [1], [1]), []), 0);
        nextMean = tf.where(open, nextMean, this.#mean);
        nextVariance = tf.where(open, nextVariance, this.#var);
      }
      this.#mean.assign(nextMean);
      this.#var.assign(nextVariance);
    });
    tf.dispose([mean, variance]);
  }

  /** Forgets the last training batch's statistics (the compiler's dry runs leave some). */
  dropBatchStatistics(): void {
    this.#means.clear();
    this.#variances.clear();
  }

  /** Releases buffers and pending statistics (parameters belong to the store's owner). */
  dispose(): void {
    this.dropBatchStatistics();
    this.#mean.dispose();
    this.#var.dispose();
  }
}
