/**
 * CyCLIP's cyclic consistency regularisers (Goel et al., NeurIPS 2022,
 * {@link https://arxiv.org/abs/2205.14459 | arXiv 2205.14459};
 * github.com/goel-shashank/CyCLIP), added to CLIP's loss.
 *
 * With L2-normalised image and text embeddings I, T `[N, D]` (pair i in row i):
 *
 *   cross-modal  L_C = (1/N) Σ_j Σ_k (⟨I_j, T_k⟩ − ⟨I_k, T_j⟩)²  = ‖S_IT − S_ITᵀ‖²_F / N
 *   in-modal     L_I = (1/N) Σ_j Σ_k (⟨I_j, I_k⟩ − ⟨T_j, T_k⟩)²  = ‖S_II − S_TT‖²_F / N
 *   L = L_CLIP + λ_I·L_I + λ_C·L_C,   λ_I = λ_C = 0.25
 *
 * CyCLIP's code forms both from CLIP's logits (`exp θ · cosines`), squares
 * their differences, takes the mean over the N² entries, multiplies by N and
 * divides by `exp(θ)²`: the cosines above, with no gradient reaching θ. The
 * plain term of the latent-structure paper's geometric consistency
 * (`losses/geometric_consistency.ts`) is L_I + L_C, on the original views.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import type { Scalar, Tensor2D } from "../core/tensor.ts";
import { fmtShape } from "./common.ts";
import { squaredDistance } from "./prediction.ts";

/** Weights of {@linkcode cyclipLoss}'s two terms. */
export interface CyclipOptions {
  /** λ_I, the in-modal term's weight (CyCLIP: 0.25). */
  inModalWeight: number;
  /** λ_C, the cross-modal term's weight (CyCLIP: 0.25). */
  crossModalWeight: number;
}

/** The two unweighted terms of CyCLIP (scalars). */
export interface CyclipTerms {
  /** ‖S_II − S_TT‖²_F / N: image–image and text–text similarities agree. */
  inModal: Scalar;
  /** ‖S_IT − S_ITᵀ‖²_F / N: the image–text similarity matrix is symmetric. */
  crossModal: Scalar;
}

/**
 * CyCLIP's two terms, unweighted.
 *
 * @param image Image embeddings `[N, D]`, L2-normalised.
 * @param text Text embeddings `[N, D]`, L2-normalised; row i is image i's caption.
 * @returns Both terms; the caller disposes them.
 */
export function cyclipTerms(image: Tensor2D, text: Tensor2D): CyclipTerms {
  if (
    image.rank !== 2 || text.rank !== 2 || image.shape[0] !== text.shape[0] ||
    image.shape[1] !== text.shape[1]
  ) {
    throw new Error(
      `CyCLIP expects image and text of the same shape [N, D], got image ` +
        `${fmtShape(image.shape)} and text ${fmtShape(text.shape)}`,
    );
  }
  const [inModal, crossModal] = tf.tidy(() => {
    const sim = (x: Tensor2D, y: Tensor2D) => matmul(x, y, { transposeB: true }) as Tensor2D;
    const terms = cyclipTermsOf(sim(image, text), sim(image, image), sim(text, text));
    return [terms.inModal, terms.crossModal];
  });
  return { inModal: inModal!, crossModal: crossModal! };
}

/**
 * CyCLIP's two terms from the similarity matrices (geometric consistency's
 * plain term reuses the ones it has).
 *
 * @param sit S_IT = I Tᵀ `[N, N]`.
 * @param sii S_II = I Iᵀ `[N, N]`.
 * @param stt S_TT = T Tᵀ `[N, N]`.
 * @returns Both terms; the caller disposes them.
 */
export function cyclipTermsOf(sit: Tensor2D, sii: Tensor2D, stt: Tensor2D): CyclipTerms {
  const n = sit.shape[0];
  const [inModal, crossModal] = tf.tidy(() =>
    [
      tf.div(squaredDistance(sii, stt), n),
      tf.div(squaredDistance(sit, tf.transpose(sit)), n),
    ] as Scalar[]
  );
  return { inModal: inModal!, crossModal: crossModal! };
}

/**
 * CyCLIP's regulariser λ_I·L_I + λ_C·L_C (CLIP's own loss is a separate term).
 *
 * @param image Image embeddings `[N, D]`, L2-normalised.
 * @param text Text embeddings `[N, D]`, L2-normalised.
 * @param options The two weights.
 * @returns The scalar loss (0 when both modalities share one similarity geometry).
 */
export function cyclipLoss(image: Tensor2D, text: Tensor2D, options: CyclipOptions): Scalar {
  return tf.tidy(() => {
    const terms = cyclipTerms(image, text);
    return tf.add(
      tf.mul(terms.inModal, options.inModalWeight),
      tf.mul(terms.crossModal, options.crossModalWeight),
    ) as Scalar;
  });
}
