/**
 * The prediction (alignment) term of NOVA
 * ({@link https://arxiv.org/abs/2602.00653 | arXiv 2602.00653}): mean squared
 * error between predicted image embeddings and the text anchor, with no
 * negatives and no stop-gradient.
 *
 *   loss = mean_{v, b, k} (pred[v, b, k] − target[b, k])²
 *
 * `pred` `[V, B, K]` (views) or `[B, K]`; `target` `[B, K]` (broadcast over the
 * views) or the same shape as `pred`. On WebGPU with novalab's kernels it is
 * one dispatch forward and one backward (`kernels/squared_error.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { runCustomGradOp } from "../kernels/custom_grad.ts";
import { SQUARED_ERROR, SQUARED_ERROR_GRAD } from "../kernels/squared_error.ts";

/** Whether `target` matches `pred` exactly or is `pred` without its leading view axis. */
function compatible(pred: number[], target: number[]): boolean {
  const same = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
  if (pred.length === 2) return same(pred, target);
  if (pred.length === 3) return same(pred, target) || same(pred.slice(1), target);
  return false;
}

/**
 * Mean squared error over all elements, the target broadcast over views.
 *
 * @param pred Predictions `[V, B, K]` or `[B, K]`.
 * @param target Targets `[B, K]` or the shape of `pred`.
 * @returns The scalar MSE.
 */
export function predictionLoss(pred: Tensor, target: Tensor): Scalar {
  if (!compatible(pred.shape, target.shape)) {
    throw new Error(
      `predictionLoss: pred [${pred.shape.join(", ")}] and target [${
        target.shape.join(", ")
      }] do not match; expected pred [V, B, K] or [B, K] and target [B, K] or the shape of pred`,
    );
  }
  if (novalabKernelsActive() && pred.dtype === "float32" && target.dtype === "float32") {
    return squaredErrorMean(pred, target);
  }
  // Not tf.squaredDifference: its 4.22 gradient does not reduce a broadcast target.
  return tf.tidy(() => tf.mean(tf.square(tf.sub(pred, target))) as Scalar);
}

/**
 * ‖a − b‖²_F, the squared Frobenius distance (geometric consistency's and CyCLIP's; on WebGPU
 * with novalab's kernels the fused squared error, one dispatch each way).
 *
 * @param a A `[N, M]` or `[V, N, M]` tensor.
 * @param b A tensor of the same shape.
 * @returns The scalar Σ (a − b)².
 * @throws When the shapes differ, naming both.
 */
export function squaredDistance(a: Tensor, b: Tensor): Scalar {
  if (a.rank !== b.rank || a.shape.some((d, i) => d !== b.shape[i])) {
    throw new Error(
      `squaredDistance: a [${a.shape.join(", ")}] and b [${b.shape.join(", ")}] differ; ` +
        `expected two tensors of the same shape`,
    );
  }
  return tf.tidy(() => {
    if (novalabKernelsActive() && a.dtype === "float32" && b.dtype === "float32") {
      // Σ (a − b)² = size · mean (a − b)²: the fused squared error (one dispatch each way).
      return tf.mul(predictionLoss(a, b), a.size) as Scalar;
    }
    return tf.sum(tf.square(tf.sub(a, b))) as Scalar;
  });
}

/** The fused WebGPU form: one dispatch forward, one for both gradients (`kernels/squared_error.ts`). */
function squaredErrorMean(pred: Tensor, target: Tensor): Scalar {
  return runCustomGradOp<Tensor>({
    inputs: { pred, target },
    forwardFunc: (_backend, save) => {
      save([pred, target]);
      return tf.tidy(() =>
        (tf.engine().runKernel(SQUARED_ERROR, { pred, target }) as Tensor).reshape([])
      );
    },
    backwardsFunc: (dy, saved) => {
      const [p, t] = saved;
      // Both at once, eagerly (a lazy closure's tensors die with its own tidy scope).
      const [dPred, dTarget] = tf.engine().runKernel(SQUARED_ERROR_GRAD, {
        pred: p!,
        target: t!,
        dy,
      }) as Tensor[];
      return { pred: () => dPred!, target: () => dTarget! };
    },
  }) as Scalar;
}
