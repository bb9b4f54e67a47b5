/**
 * Small tensor helpers shared by the loss terms: L2 normalisation, a
 * stop-gradient identity, view slicing and a masked row-wise InfoNCE.
 * Internal to the loss room (not re-exported from `losses/mod.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { logSumExp } from "../kernels/logsumexp.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";

/**
 * Divides by the L2 norm of the last axis (ε-guarded, so a zero row stays
 * zero): `kernels/l2_normalize.ts`, fused on WebGPU.
 */
export { l2Normalize } from "../kernels/l2_normalize.ts";

const identityNoGrad = tf.customGrad((a, _save) => ({
  value: tf.clone(a as Tensor),
  gradFunc: (dy) => tf.zerosLike(dy as Tensor),
}));

/**
 * Identity whose gradient is zero (tfjs has no `stopGradient`): the value
 * flows forward, nothing flows back.
 *
 * @param x Any tensor.
 * @returns A copy of `x` treated as a constant by `tf.grads`.
 */
export function stopGradient(x: Tensor): Tensor {
  return identityNoGrad(x);
}

/**
 * View `v` of a `[V, B, D]` tensor as `[B, D]`. Uses a slice, not `tf.unstack`,
 * whose one-output gradient throws in tfjs 4.22.
 *
 * @param x Views `[V, B, D]`.
 * @param v View index in `[0, V)`.
 * @returns `x[v]` `[B, D]`.
 */
export function viewAt(x: Tensor, v: number): Tensor2D {
  return tf.tidy(() => tf.squeeze(tf.slice(x, [v, 0, 0], [1, -1, -1]), [0]) as Tensor2D);
}

/** Added to masked logits: exp of it underflows to 0 while staying finite. */
export const MASKED_LOGIT: number = -1e9;

/**
 * Mean over rows of the cross-entropy `lse_j ℓᵢⱼ − ℓᵢ,pos(i)`, where the
 * positive column of row i is `positives[i]` and entries where `mask` is 1
 * are excluded from the log-sum-exp.
 *
 * @param logits `[N, M]`.
 * @param options `positives` (N column indices) and an optional `mask` `[N, M]` of 0/1.
 * @returns The mean cross-entropy, a scalar.
 */
export function maskedRowCrossEntropy(
  logits: Tensor2D,
  options: { positives: number[]; mask?: Tensor2D },
): Scalar {
  return tf.tidy(() => {
    const [n, m] = logits.shape;
    const onehot = tf.oneHot(tf.tensor1d(options.positives, "int32"), m).toFloat();
    const masked = options.mask ? tf.add(logits, tf.mul(options.mask, MASKED_LOGIT)) : logits;
    const lse = logSumExp(masked, 1);
    const pos = tf.sum(tf.mul(logits, onehot), 1);
    return tf.div(tf.sum(tf.sub(lse, pos)), n) as Scalar;
  });
}

/**
 * Formats a shape for error messages: `[2, 3]`.
 *
 * @param shape Any shape.
 * @returns The bracketed, comma-separated shape.
 */
export function fmtShape(shape: readonly number[]): string {
  return `[${shape.join(", ")}]`;
}
