/**
 * The symmetric InfoNCE loss of CLIP
 * ({@link https://arxiv.org/abs/2103.00020 | arXiv 2103.00020}).
 *
 * With image and text embeddings I, T `[B, D]` (L2-normalised), logits =
 * s · I Tᵀ + b `[B, B]` and the matching pairs on the diagonal:
 *
 *   loss = ½ [CE(logits, diag) + CE(logitsᵀ, diag)]
 *        = ½ [mean_i lse_j ℓᵢⱼ + mean_j lse_i ℓᵢⱼ] − mean_i ℓᵢᵢ
 *
 * (log-sum-exp with the max subtracted, so large scales stay finite). With
 * target weights W `[B, B]` (a constant) the last term is `(1/B) Σᵢⱼ Wᵢⱼ ℓᵢⱼ`:
 * for row targets R (rows summing to 1) and column targets C (columns summing
 * to 1), W = (R + C)/2 gives ½[CE_rows(ℓ, R) + CE_cols(ℓ, C)] — UniCL's
 * multi-positive targets (R = C), ALBEF's soft targets; W = 𝟙 is the formula
 * above. At
 * initialisation (random directions, small s) the loss is ≈ ln B, and exactly
 * ln B when s = 0. On WebGPU with novalab's kernels everything after the
 * similarity matmul is two dispatches forward and two backward
 * (`kernels/infonce.ts`; the diagonal is read from the similarities).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import { logSumExp } from "../kernels/logsumexp.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { infoNceFromSimilarity } from "../kernels/infonce.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";

/** Options of {@linkcode clipLoss}. */
export interface ClipLossOptions {
  /** Logit scale s (CLIP: exp θ, θ₀ = ln(1/0.07)); a scalar tensor keeps its gradient. */
  scale: number | Scalar;
  /** Optional logit bias b added to every logit. */
  bias?: number | Scalar;
  /**
   * Target weights W `[B, B]` in place of the diagonal (a constant, summing to
   * B: the mean of row and column targets): `losses/multi_positive.ts`,
   * `losses/clip_distill.ts`.
   */
  targets?: Tensor2D;
}

/**
 * CLIP's symmetric cross-entropy over a batch of matching image/text pairs.
 *
 * @param image Image embeddings `[B, D]`, already L2-normalised.
 * @param text Text embeddings `[B, D]`, already L2-normalised; row i matches image row i.
 * @param options Logit scale and optional bias.
 * @returns The scalar loss (≈ ln B at random initialisation).
 */
export function clipLoss(
  image: Tensor2D,
  text: Tensor2D,
  options: ClipLossOptions,
): Scalar {
  if (
    image.rank !== 2 || text.rank !== 2 || image.shape[0] !== text.shape[0] ||
    image.shape[1] !== text.shape[1]
  ) {
    throw new Error(
      `clipLoss expects image and text of the same shape [B, D], got image ` +
        `[${image.shape.join(", ")}] and text [${text.shape.join(", ")}]`,
    );
  }
  const b = image.shape[0], targets = options.targets;
  if (targets && targets.shape.join() !== `${b},${b}`) {
    throw new Error(
      `clipLoss expects targets [B, B] = [${b}, ${b}], got [${targets.shape.join(", ")}]`,
    );
  }
  if (novalabKernelsActive() && image.dtype === "float32" && text.dtype === "float32") {
    return tf.tidy(() => {
      const asTensor = (x: number | Scalar) => typeof x === "number" ? tf.scalar(x) : x;
      const sim = matmul(image, text, { transposeB: true });
      const [scale, bias] = [asTensor(options.scale), asTensor(options.bias ?? 0)];
      return infoNceFromSimilarity(sim, scale, bias, targets);
    });
  }
  return tf.tidy(() => {
    let logits: Tensor = tf.mul(matmul(image, text, { transposeB: true }), options.scale);
    if (options.bias !== undefined) logits = tf.add(logits, options.bias);
    const rows = tf.mean(logSumExp(logits, 1));
    const cols = tf.mean(logSumExp(logits, 0));
    const half = tf.mul(tf.add(rows, cols), 0.5);
    if (targets) return tf.sub(half, tf.div(tf.sum(tf.mul(targets, logits)), b)) as Scalar;
    let diag: Tensor = tf.mul(tf.sum(tf.mul(image, text), 1), options.scale);
    if (options.bias !== undefined) diag = tf.add(diag, options.bias);
    return tf.sub(half, tf.mean(diag)) as Scalar;
  });
}
