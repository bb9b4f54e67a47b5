/**
 * The multi-view invariance (prediction) term of LeJEPA
 * ({@link https://arxiv.org/abs/2511.08544 | arXiv 2511.08544}).
 *
 * With views z `[V, B, K]` of the same B samples, the first V_g of them
 * global, the centre is the mean of the global views (no stop-gradient):
 *
 *   μ = (1/V_g) Σ_{v < V_g} z[v]                 `[B, K]`
 *   invariance = mean_{v, b, k} (μ[b, k] − z[v, b, k])²
 *
 * This is the reference code's normalisation (= the paper's eq. 9 divided by
 * K). LeJEPA's full objective is (1 − λ)·invariance + λ·mean_v SIGReg(z[v])
 * with λ = 0.05: in a recipe, an `invariance` term of weight `1 - λ` next to a
 * `sigreg` term of weight `λ` over the same views.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { fmtShape } from "./common.ts";

/** Options of {@linkcode invarianceLoss}. */
export interface InvarianceLossOptions {
  /** Number of global views V_g (the first V_g views; default all V). */
  global?: number;
}

/**
 * LeJEPA's invariance term: squared distance of every view to the mean of the
 * global views, averaged over views, batch and dimensions.
 *
 * @param z Views `[V, B, K]` (global views first).
 * @param options Number of global views.
 * @returns The scalar invariance loss (0 when all views agree).
 */
export function invarianceLoss(z: Tensor, options: InvarianceLossOptions = {}): Scalar {
  if (z.rank !== 3) {
    throw new Error(
      `invarianceLoss expects views z [V, B, K] (global views first), got ${fmtShape(z.shape)}`,
    );
  }
  const views = z.shape[0]!;
  const global = options.global ?? views;
  if (!Number.isInteger(global) || global < 1 || global > views) {
    throw new Error(
      `invarianceLoss: global must be an integer in [1, V = ${views}] for z ` +
        `${fmtShape(z.shape)}, got ${global}`,
    );
  }
  return tf.tidy(() => {
    const centre = tf.mean(tf.slice(z, [0, 0, 0], [global, -1, -1]), 0, true);
    return tf.mean(tf.square(tf.sub(z, centre))) as Scalar;
  });
}
