/**
 * Geometric consistency, the intra- and inter-modal regulariser of
 * "Understanding and Constructing Latent Modality Structures in Multi-modal
 * Representation Learning"
 * ({@link https://arxiv.org/abs/2303.05952 | arXiv 2303.05952}).
 *
 * With L2-normalised Z_V, Z_T `[N, D]` (original views), their augmented views
 * Z^a_V, Z^a_T, and similarity matrices S_VT = Z_V Z_Tᵀ, S_VV = Z_V Z_Vᵀ, …:
 *
 *   plain     = (‖S_VT − S_VTᵀ‖²_F + ‖S_VV − S_TT‖²_F) / N
 *   augmented = (‖S_VV − S^a_VV‖²_F + ‖S_TT − S^a_TT‖²_F) / N
 *               + mean_i (⟨z_V,i, z_T,i⟩ − ⟨z^a_V,i, z^a_T,i⟩)²
 *   L_GC = w_p·plain + w_a·augmented
 *
 * Without augmented text (`text` `[N, D]`) Z^a_T = Z_T, so ‖S_TT − S^a_TT‖ = 0.
 * (recon.) the weights (default 1); the paper's main text gives none.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { pairedViews } from "./contrastive4.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { predictionLoss } from "./prediction.ts";

/** Options of {@linkcode geometricConsistencyLoss}. */
export interface GeometricConsistencyOptions {
  /** Weight of the plain term (default 1, recon.). */
  plainWeight?: number;
  /** Weight of the augmented-view term (default 1, recon.). */
  augmentedWeight?: number;
}

/** The two unweighted terms of geometric consistency (scalars). */
export interface GeometricConsistencyTerms {
  /** Symmetry of S_VT plus agreement of S_VV and S_TT, over N. */
  plain: Scalar;
  /** Agreement of each modality's similarities across views, plus the paired-cosine drift. */
  augmented: Scalar;
}

/** ‖a − b‖²_F. */
function sqFrobenius(a: Tensor, b: Tensor): Tensor {
  if (novalabKernelsActive() && a.dtype === "float32" && b.dtype === "float32") {
    // Σ (a − b)² = size · mean (a − b)²: the fused squared error (one dispatch each way).
    return tf.mul(predictionLoss(a, b), a.size);
  }
  return tf.sum(tf.square(tf.sub(a, b)));
}

/** X Yᵀ. */
function sim(x: Tensor2D, y: Tensor2D): Tensor2D {
  return matmul(x, y, { transposeB: true }) as Tensor2D;
}

/**
 * The plain and augmented-view terms of geometric consistency, unweighted.
 *
 * @param image Two image views `[2, N, D]` (original, augmented), L2-normalised.
 * @param text Text `[N, D]` or two text views `[2, N, D]`, L2-normalised.
 * @returns Both terms; the caller disposes them.
 */
export function geometricConsistencyTerms(image: Tensor, text: Tensor): GeometricConsistencyTerms {
  const [plain, augmented] = tf.tidy(() => {
    const [v, va, t, ta] = pairedViews(image, text, "geometricConsistency") as Tensor2D[];
    const n = v!.shape[0];
    const [svt, svv, stt] = [sim(v!, t!), sim(v!, v!), sim(t!, t!)];
    const plain = tf.div(tf.add(sqFrobenius(svt, tf.transpose(svt)), sqFrobenius(svv, stt)), n);
    const views = tf.div(
      tf.add(sqFrobenius(svv, sim(va!, va!)), sqFrobenius(stt, sim(ta!, ta!))),
      n,
    );
    const pairs = tf.sub(tf.sum(tf.mul(v!, t!), 1), tf.sum(tf.mul(va!, ta!), 1));
    return [plain, tf.add(views, tf.mean(tf.square(pairs)))] as Scalar[];
  });
  return { plain: plain!, augmented: augmented! };
}

/**
 * Geometric consistency L_GC = w_p·plain + w_a·augmented.
 *
 * @param image Two image views `[2, N, D]` (original, augmented), L2-normalised.
 * @param text Text `[N, D]` or two text views `[2, N, D]`, L2-normalised.
 * @param options The two weights.
 * @returns The scalar loss (0 when the two modalities share one geometry across views).
 */
export function geometricConsistencyLoss(
  image: Tensor,
  text: Tensor,
  options: GeometricConsistencyOptions = {},
): Scalar {
  return tf.tidy(() => {
    const terms = geometricConsistencyTerms(image, text);
    return tf.add(
      tf.mul(terms.plain, options.plainWeight ?? 1),
      tf.mul(terms.augmented, options.augmentedWeight ?? 1),
    ) as Scalar;
  });
}
