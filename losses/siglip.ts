/**
 * The pairwise sigmoid loss of SigLIP
 * ({@link https://arxiv.org/abs/2303.15343 | arXiv 2303.15343}).
 *
 * With image and text embeddings I, T `[B, D]` (L2-normalised), logits
 * ℓ = s · I Tᵀ + b `[B, B]` and labels zᵢⱼ = +1 on the diagonal, −1 elsewhere:
 *
 *   loss = −(1/B) Σᵢⱼ log σ(zᵢⱼ ℓᵢⱼ) = (1/B) Σᵢⱼ softplus(−zᵢⱼ ℓᵢⱼ)
 *
 * (sum over all B² pairs, divided by B; −log σ(x) = softplus(−x), which avoids
 * the broken `tf.logSigmoid` gradient of tfjs 4.22). The paper initialises
 * s = 10 (θ = ln 10, s = exp θ learnable) and b = −10, so that at
 * initialisation every logit is ≈ −10: the B positives cost ≈ 10 each, the
 * B² − B negatives ≈ e⁻¹⁰ each, and the loss is ≈ 10.
 *
 * On WebGPU with novalab's kernels the loss after the similarity matmul is
 * one fused row kernel each way (`kernels/siglip.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { fmtShape } from "./common.ts";
import { fusedSigLip, fusedSigLipActive } from "../kernels/siglip.ts";

/** Options of {@linkcode sigLipLoss}. */
export interface SigLipLossOptions {
  /** Logit scale s (SigLIP: exp θ with θ₀ = ln 10); a scalar tensor keeps its gradient. */
  scale: number | Scalar;
  /** Logit bias b (SigLIP: learnable, b₀ = −10); a scalar tensor keeps its gradient. */
  bias: number | Scalar;
  /**
   * Positive pairs M `[B, B]` (0/1, `losses/multi_positive.ts`): labels
   * zᵢⱼ = 2Mᵢⱼ − 1 instead of the identity's (absent: only the diagonal).
   */
  positives?: Tensor2D;
}

/**
 * SigLIP's sigmoid loss over all B² image/text pairs of a batch.
 *
 * @param image Image embeddings `[B, D]`, already L2-normalised.
 * @param text Text embeddings `[B, D]`, already L2-normalised; row i matches image row i.
 * @param options Logit scale s and bias b.
 * @returns The scalar loss (≈ 10 at SigLIP's initialisation s = 10, b = −10).
 */
export function sigLipLoss(image: Tensor2D, text: Tensor2D, options: SigLipLossOptions): Scalar {
  if (
    image.rank !== 2 || text.rank !== 2 || image.shape[0] !== text.shape[0] ||
    image.shape[1] !== text.shape[1]
  ) {
    throw new Error(
      `sigLipLoss expects image and text of the same shape [B, D], got image ` +
        `${fmtShape(image.shape)} and text ${fmtShape(text.shape)}`,
    );
  }
  return tf.tidy(() => {
    const b = image.shape[0];
    const similarity = matmul(image, text, { transposeB: true });
    if (fusedSigLipActive(similarity)) {
      const scalar = (v: number | Scalar) => typeof v === "number" ? tf.scalar(v) : v;
      const [scale, bias] = [scalar(options.scale), scalar(options.bias)];
      return fusedSigLip(similarity, scale, bias, options.positives);
    }
    const logits: Tensor = tf.add(tf.mul(similarity, options.scale), options.bias);
    const labels = tf.sub(tf.mul(options.positives ?? tf.eye(b), 2), 1);
    return tf.div(tf.sum(tf.softplus(tf.neg(tf.mul(labels, logits)))), b) as Scalar;
  });
}
