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
 * The plain term is CyCLIP's two regularisers (`losses/cyclip.ts`) at weight 1.
 * Without augmented text (`text` `[N, D]`) Z^a_T = Z_T, so ‖S_TT − S^a_TT‖ = 0.
 * (recon.) the weights (default 1); the paper's main text gives none.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { pairedViews } from "./contrastive4.ts";
import { squaredDistance } from "./prediction.ts";
import { cyclipTermsOf } from "./cyclip.ts";

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
    const [svv, stt] = [sim(v!, v!), sim(t!, t!)];
    const cyclic = cyclipTermsOf(sim(v!, t!), svv, stt);
    const plain = tf.add(cyclic.inModal, cyclic.crossModal);
    const views = tf.div(
      tf.add(squaredDistance(svv, sim(va!, va!)), squaredDistance(stt, sim(ta!, ta!))),
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
