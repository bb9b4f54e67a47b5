/**
 * The prediction (alignment) term of NOVA
 * ({@link https://arxiv.org/abs/2602.00653 | arXiv 2602.00653}): mean squared
 * error between predicted image embeddings and the text anchor, with no
 * negatives and no stop-gradient.
 *
 *   loss = mean_{v, b, k} (pred[v, b, k] − target[b, k])²
 *
 * `pred` `[V, B, K]` (views) or `[B, K]`; `target` `[B, K]` (broadcast over the
 * views) or the same shape as `pred`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor } from "../core/tensor.ts";

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
  // Not tf.squaredDifference: its 4.22 gradient does not reduce a broadcast target.
  return tf.tidy(() => tf.mean(tf.square(tf.sub(pred, target))) as Scalar);
}
