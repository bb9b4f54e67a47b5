/**
 * The training step's on-device guard: a small tensor, the step report
 * `[scale, ok, norm, losses…]`, that the optimiser reads before it updates
 * anything (`AdamW.apply(…, guard)`) and the host reads afterwards for the
 * step's metrics. With it the trainer records forward, backward and update
 * without waiting for the loss, and reads one small tensor per step instead of
 * two (`core/trainer.ts`).
 *
 * `ok` is 1 when the losses and the gradient norm are all finite and the
 * previous report's `ok` was 1: a non-finite step is skipped on the device,
 * and so is every step issued after it before the host saw the report.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { novalabKernelsActive } from "../kernels/install.ts";
import { REPORT_HEADER, STEP_GUARD } from "../kernels/step_guard.ts";
import type { Tensor } from "./tensor.ts";

/** What {@linkcode stepGuard} reads. */
export interface StepGuardInputs {
  /** `[k]`: the weighted total loss, then each term. */
  losses: Tensor;
  /** The global gradient norm (one element). */
  norm: Tensor;
  /** The previous step's report, or {@linkcode healthyReport} for the first step. */
  previous: Tensor;
  /** Gradient clipping's factor (one element), or none (factor 1). */
  scale?: Tensor | null;
}

/** A report that lets the next step through: `[1, 1, 0]` (scale 1, ok, norm 0, no losses). */
export function healthyReport(): Tensor {
  return tf.tensor1d([1, 1, 0]);
}

/**
 * The report `[scale, ok, norm, losses…]` of a step (a new float32 tensor,
 * owned by the caller). One dispatch on WebGPU with novalab's kernels, an op
 * composition elsewhere (finite ⇔ `x − x == 0`). Nothing is read back.
 */
export function stepGuard(inputs: StepGuardInputs): Tensor {
  const { losses, norm, previous, scale } = inputs;
  if (novalabKernelsActive()) {
    return tf.engine().runKernel(STEP_GUARD, {
      losses,
      norm,
      health: previous,
      ...(scale ? { scale } : {}),
    }) as Tensor;
  }
  return tf.tidy(() => {
    const flatLosses = tf.reshape(losses, [-1]);
    const flatNorm = tf.reshape(norm, [1]);
    const numbers = tf.concat([flatLosses, flatNorm]);
    const finite = tf.all(tf.equal(tf.sub(numbers, numbers), 0));
    const wasOk = tf.notEqual(tf.reshape(tf.slice(tf.reshape(previous, [-1]), [1], [1]), []), 0);
    const ok = tf.cast(tf.logicalAnd(finite, wasOk), "float32").reshape([1]);
    const factor = scale ? tf.reshape(scale, [1]) : tf.ones([1]);
    return tf.concat([factor, ok, flatNorm, flatLosses]);
  });
}

/** A report read back on the host. */
export interface StepReport {
  /** Clipping's factor the update used (1 without clipping). */
  scale: number;
  /** True when the update was applied (finite step, no earlier failure in flight). */
  ok: boolean;
  /** Global gradient norm before clipping. */
  norm: number;
  /** The weighted total loss, then each term. */
  losses: number[];
}

/** Decodes the values of a report. */
export function decodeStepReport(values: ArrayLike<number>): StepReport {
  if (values.length < REPORT_HEADER + 1) {
    throw new Error(
      `core/step_guard.ts: a step report has ${REPORT_HEADER} header entries and at least one ` +
        `loss, got ${values.length} values`,
    );
  }
  const all = Array.from(values);
  return {
    scale: all[0]!,
    ok: all[1] === 1,
    norm: all[2]!,
    losses: all.slice(REPORT_HEADER),
  };
}

/**
 * The loss-side metrics of a read report — total loss, each term by name (in
 * the order the report holds them), the learning rate and the gradient norm —
 * and whether the step was healthy: its gate open and every number finite.
 */
export function reportMetrics(
  values: ArrayLike<number>,
  step: number,
  lr: number,
  termNames: string[],
): {
  metrics: {
    step: number;
    loss: number;
    terms: Record<string, number>;
    lr: number;
    grad_norm: number;
  };
  healthy: boolean;
} {
  const report = decodeStepReport(values);
  const terms = Object.fromEntries(termNames.map((n, i) => [n, report.losses[i + 1]!]));
  const metrics = { step, loss: report.losses[0]!, terms, lr, grad_norm: report.norm };
  const numbers = [metrics.loss, metrics.grad_norm, ...Object.values(terms)];
  return { metrics, healthy: report.ok && numbers.every(Number.isFinite) };
}
