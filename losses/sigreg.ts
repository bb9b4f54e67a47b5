/**
 * SIGReg: sketched isotropic Gaussian regularisation (LeJEPA,
 * {@link https://arxiv.org/abs/2511.08544 | arXiv 2511.08544}).
 *
 * For embeddings Z `[N, K]`, draw M unit directions A `[K, M]` (Gaussian
 * entries, columns L2-normalised; no gradient through A; `random_directions.ts`), project u = Z A
 * `[N, M]`, and average the Epps–Pulley statistic of every slice:
 *
 *   SIGReg(Z) = mean_m EP(u[:, m])   (see `epps_pulley.ts`)
 *
 * A leading "view" axis tests each view over its own batch and averages.
 * Reference values (code / paper quadrature): N(0, 1) samples, N = 1024 →
 * ≈ 1.02 / 1.03; all-zero input of N samples → 0.40205·N / 0.40892·N.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import { randomDirections } from "./random_directions.ts";
import { eppsPulley, type Quadrature } from "./epps_pulley.ts";
import type { Scalar, Tensor, Tensor2D, Tensor3D } from "../core/tensor.ts";

export { randomDirections };

/** Options of {@linkcode sigreg}. */
export interface SigregOptions {
  /** Directions `[K, M]` to use instead of random ones (treated as constants). */
  directions?: Tensor2D;
  /** Number of random directions M (default 1024; ignored with `directions`). */
  slices?: number;
  /** Seed of the random directions (default 0; pass a per-step seed when training). */
  seed?: number;
  /** Quadrature of the Epps–Pulley integral (default `"code"`). */
  quadrature?: Quadrature;
  /** Largest `V · N · chunk · T` processed at once (memory bound; default 2²⁵ floats). */
  maxChunkFloats?: number;
}

/** Identity whose gradient is zero: directions are constants. */
const stopGradient = tf.customGrad((a, _save) => ({
  value: tf.clone(a as Tensor),
  gradFunc: (dy) => tf.zerosLike(dy as Tensor),
}));

/**
 * SIGReg statistic of `x` `[..., N, K]`: leading axes are separate views, each
 * tested over its own N samples; the result is the mean over views and slices.
 *
 * @param x Embeddings `[N, K]` or `[..., N, K]` (N ≥ 1).
 * @param options Directions (or their number and seed), quadrature, chunk size.
 * @returns A scalar: ≈ 1 for an isotropic standard Gaussian batch, ≈ 0.4·N at collapse.
 */
export function sigreg(x: Tensor, options: SigregOptions = {}): Scalar {
  if (x.rank < 2) {
    throw new Error(
      `sigreg expects embeddings [..., N, K] (rank ≥ 2), got shape [${x.shape.join(", ")}]`,
    );
  }
  const [n, k] = x.shape.slice(-2) as [number, number];
  const dirs = options.directions;
  if (dirs && (dirs.rank !== 2 || dirs.shape[0] !== k)) {
    throw new Error(
      `sigreg: directions must be [K, M] with K = ${k} (last axis of x [${x.shape.join(", ")}]), ` +
        `got [${dirs.shape.join(", ")}]`,
    );
  }
  const slices = options.slices ?? 1024;
  if (!dirs && (!Number.isInteger(slices) || slices < 1)) {
    throw new Error(`sigreg: slices must be a positive integer (e.g. 1024), got ${slices}`);
  }
  return tf.tidy(() => {
    const a = dirs
      ? stopGradient(dirs) as Tensor2D
      : randomDirections(k, slices, options.seed ?? 0);
    const views = tf.reshape(x, [-1, n, k]) as Tensor3D;
    const u = matmul(tf.reshape(views, [-1, k]), a);
    const stats = eppsPulley(tf.reshape(u, [views.shape[0], n, a.shape[1]]), {
      quadrature: options.quadrature ?? "code",
      maxChunkFloats: options.maxChunkFloats,
    });
    return tf.mean(stats) as Scalar;
  });
}
