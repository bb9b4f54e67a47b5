/**
 * Deep feature separation, the intra-modal regulariser of "Understanding and
 * Constructing Latent Modality Structures in Multi-modal Representation
 * Learning" ({@link https://arxiv.org/abs/2303.05952 | arXiv 2303.05952}).
 *
 * Extra heads give "independent" features zⁱ beside the shared (aligned)
 * features z of each modality, all L2-normalised. Three terms:
 *
 *   L_ortho = mean_b ⟨z_V, zⁱ_V⟩² + mean_b ⟨z_T, zⁱ_T⟩²      (separation; over views too)
 *   L_con   = CLIP(zⁱ_V, zⁱ^a_V) + CLIP(zⁱ_T, zⁱ^a_T)         (in-modal, positive = augmented view)
 *   L_unif  = U(zⁱ_V) + U(zⁱ_T),  U(x) = log mean_{j≠k} exp(−t ‖xⱼ − xₖ‖²),  t = 2
 *   loss    = w_o·L_ortho + w_c·L_con + w_u·L_unif
 *
 * U is Wang & Isola's uniformity (averaged over the views of a modality).
 * (recon.) the weights (default 1), summing the two modalities, the symmetric
 * in-modal InfoNCE and, without augmented text, T2T against the text itself.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import { logSumExp } from "../kernels/logsumexp.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { uniformityFromGram } from "../kernels/uniformity.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { addAll } from "../core/ops.ts";
import { clipLoss } from "./clip.ts";
import { fmtShape, MASKED_LOGIT, viewAt } from "./common.ts";
import { pairedViews } from "./contrastive4.ts";

/** Image and text features of one kind (shared or independent). */
export interface ModalityFeatures {
  /** Image features, two views `[2, B, D]` (original, augmented), L2-normalised. */
  image: Tensor;
  /** Text features `[B, D]` or two views `[2, B, D]`, L2-normalised. */
  text: Tensor;
}

/** Options of {@linkcode featureSeparationLoss}; weights default to 1. */
export interface FeatureSeparationOptions {
  /** Logit scale s of the in-modal InfoNCE; a scalar tensor keeps its gradient. */
  scale: number | Scalar;
  /** Uniformity temperature t (default 2). */
  t?: number;
  /** Weight of L_ortho (default 1, recon.). */
  orthoWeight?: number;
  /** Weight of the in-modal contrastive term (default 1, recon.). */
  contrastiveWeight?: number;
  /** Weight of the uniformity term (default 1, recon.). */
  uniformityWeight?: number;
}

/** The three unweighted terms of feature separation (scalars). */
export interface FeatureSeparationTerms {
  /** Squared cosines between shared and independent features (0 when orthogonal). */
  ortho: Scalar;
  /** In-modal InfoNCE on the independent features (ln B at scale 0 per modality). */
  contrastive: Scalar;
  /** Uniformity of the independent features (≤ 0; lower is more uniform). */
  uniformity: Scalar;
}

/**
 * Wang & Isola's uniformity log mean_{j≠k} exp(−t ‖xⱼ − xₖ‖²) over distinct pairs.
 *
 * @param x Features `[B, D]` (B ≥ 2), usually L2-normalised.
 * @param options Temperature t (default 2).
 * @returns The scalar uniformity (−4t·… for orthogonal unit vectors; 0 at collapse).
 */
export function uniformityLoss(x: Tensor2D, options: { t?: number } = {}): Scalar {
  if (x.rank !== 2 || x.shape[0] < 2) {
    throw new Error(`uniformityLoss expects features [B, D] with B ≥ 2, got ${fmtShape(x.shape)}`);
  }
  const b = x.shape[0];
  if (novalabKernelsActive() && x.dtype === "float32") {
    return tf.tidy(() => uniformityFromGram(matmul(x, x, { transposeB: true }), options.t ?? 2));
  }
  return tf.tidy(() => {
    const sq = tf.sum(tf.square(x), 1);
    const dist = tf.maximum(
      tf.sub(
        tf.add(tf.expandDims(sq, 1), tf.expandDims(sq, 0)),
        tf.mul(matmul(x, x, { transposeB: true }), 2),
      ),
      0,
    );
    const scores = tf.add(tf.mul(dist, -(options.t ?? 2)), tf.mul(tf.eye(b), MASKED_LOGIT));
    return tf.sub(
      tf.reshape(logSumExp(tf.reshape(scores, [1, -1]), 1), []),
      Math.log(b * (b - 1)),
    ) as Scalar;
  });
}

/** Mean over `[V, B]` (or `[B]`) of the squared row-wise dot product of `a` and `b`. */
function meanSquaredCosine(a: Tensor, b: Tensor): Tensor {
  return tf.mean(tf.square(tf.sum(tf.mul(a, b), -1)));
}

/** Mean uniformity over the views of `x` (`[B, D]` or `[V, B, D]`). */
function viewUniformity(x: Tensor, t: number): Tensor {
  if (x.rank === 2) return uniformityLoss(x as Tensor2D, { t });
  const per = Array.from({ length: x.shape[0]! }, (_, v) => uniformityLoss(viewAt(x, v), { t }));
  return tf.div(addAll(per), per.length);
}

/**
 * The orthogonality, in-modal contrastive and uniformity terms, unweighted.
 *
 * @param shared Shared features: image `[2, B, D]`, text `[B, D]` or `[2, B, D]`.
 * @param independent Independent features of the same shapes as `shared`.
 * @param options Logit scale and uniformity temperature (weights are ignored here).
 * @returns The three terms; the caller disposes them.
 */
export function featureSeparationTerms(
  shared: ModalityFeatures,
  independent: ModalityFeatures,
  options: FeatureSeparationOptions,
): FeatureSeparationTerms {
  for (const m of ["image", "text"] as const) {
    const [a, b] = [shared[m].shape, independent[m].shape];
    if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
      throw new Error(
        `featureSeparation: shared ${m} ${fmtShape(a)} and independent ${m} ${fmtShape(b)} ` +
          `must have the same shape (image [2, B, D], text [B, D] or [2, B, D])`,
      );
    }
  }
  const t = options.t ?? 2;
  const [ortho, contrastive, uniformity] = tf.tidy(() => {
    const [iv, iva, it, ita] = pairedViews(
      independent.image,
      independent.text,
      "featureSeparation",
    );
    const opts = { scale: options.scale };
    return [
      tf.add(
        meanSquaredCosine(shared.image, independent.image),
        meanSquaredCosine(shared.text, independent.text),
      ),
      tf.add(clipLoss(iv!, iva!, opts), clipLoss(it!, ita!, opts)),
      tf.add(viewUniformity(independent.image, t), viewUniformity(independent.text, t)),
    ] as Scalar[];
  });
  return { ortho: ortho!, contrastive: contrastive!, uniformity: uniformity! };
}

/**
 * Feature separation: w_o·L_ortho + w_c·L_con + w_u·L_unif.
 *
 * @param shared Shared features: image `[2, B, D]`, text `[B, D]` or `[2, B, D]`.
 * @param independent Independent features of the same shapes as `shared`.
 * @param options Logit scale, uniformity temperature and the three weights.
 * @returns The scalar loss.
 */
export function featureSeparationLoss(
  shared: ModalityFeatures,
  independent: ModalityFeatures,
  options: FeatureSeparationOptions,
): Scalar {
  return tf.tidy(() => {
    const terms = featureSeparationTerms(shared, independent, options);
    return tf.add(
      tf.add(
        tf.mul(terms.ortho, options.orthoWeight ?? 1),
        tf.mul(terms.contrastive, options.contrastiveWeight ?? 1),
      ),
      tf.mul(terms.uniformity, options.uniformityWeight ?? 1),
    ) as Scalar;
  });
}
