/**
 * NT-Xent, the normalised-temperature cross-entropy of SimCLR
 * ({@link https://arxiv.org/abs/2002.05709 | arXiv 2002.05709}) between two
 * views of a batch — SLIP's image–image term
 * ({@link https://arxiv.org/abs/2112.12750 | arXiv 2112.12750}, τ = 0.1) and
 * ITO's fusion loss (`losses/ito_fusion.ts`, with CLIP's logit scale).
 *
 * With z1, z2 `[B, D]` (L2-normalised embeddings of view 1 and view 2, sample
 * i in row i) stacked into Z = [z1; z2] `[2B, D]` and the inverse temperature
 * s = 1/τ, each of the 2B rows is an anchor whose positive is the same
 * sample's other view and whose negatives are all other 2B − 2 rows
 * (self-similarity masked):
 *
 *   ℓ = s · Z Zᵀ                                       `[2B, 2B]`
 *   loss = (1/2B) Σ_a [ log Σ_{c ≠ a} exp ℓ_ac − ℓ_a,pos(a) ]
 *
 * i.e. the average of the z1→z2 and z2→z1 directions (SLIP's
 * `SIMCLRLoss`: cross-entropy over `[logits_ab, logits_aa]` with the diagonal
 * of `logits_aa` masked, averaged with its mirror). At s = 0 the loss is
 * exactly ln(2B − 1). On WebGPU with novalab's kernels it runs from the Gram
 * matrix in two dispatches each way (`kernels/ntxent.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import type { Scalar, Tensor2D } from "../core/tensor.ts";
import { fmtShape, maskedRowCrossEntropy } from "./common.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { ntXentFromGram } from "../kernels/ntxent.ts";

/** Options of {@linkcode ntXentLoss}. */
export interface NtXentLossOptions {
  /** Inverse temperature s = 1/τ; a scalar tensor (e.g. exp θ) keeps its gradient. */
  scale: number | Scalar;
}

/**
 * Symmetric NT-Xent between two views' embeddings.
 *
 * @param z1 Embeddings of view 1 `[B, D]`, L2-normalised.
 * @param z2 Embeddings of view 2 `[B, D]`, L2-normalised; row i is sample i.
 * @param options The inverse temperature.
 * @returns The scalar loss (ln(2B − 1) at scale 0).
 */
export function ntXentLoss(z1: Tensor2D, z2: Tensor2D, options: NtXentLossOptions): Scalar {
  if (
    z1.rank !== 2 || z2.rank !== 2 || z1.shape[0] !== z2.shape[0] ||
    z1.shape[1] !== z2.shape[1] || z1.shape[0] < 1
  ) {
    throw new Error(
      `NT-Xent expects two views of the same shape [B, D], got view 1 ` +
        `${fmtShape(z1.shape)} and view 2 ${fmtShape(z2.shape)}`,
    );
  }
  const b = z1.shape[0];
  if (novalabKernelsActive() && z1.dtype === "float32" && z2.dtype === "float32") {
    return tf.tidy(() => {
      const z = tf.concat([z1, z2], 0);
      const scale = typeof options.scale === "number" ? tf.scalar(options.scale) : options.scale;
      return ntXentFromGram(matmul(z, z, { transposeB: true }), scale);
    });
  }
  const positives = Array.from({ length: 2 * b }, (_, a) => (a + b) % (2 * b));
  return tf.tidy(() => {
    const z = tf.concat([z1, z2], 0);
    const logits = tf.mul(matmul(z, z, { transposeB: true }), options.scale) as Tensor2D;
    return maskedRowCrossEntropy(logits, { positives, mask: tf.eye(2 * b) as Tensor2D });
  });
}
