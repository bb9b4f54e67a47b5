/**
 * CLIP's InfoNCE with momentum distillation (ALBEF,
 * {@link https://arxiv.org/abs/2107.07651 | arXiv 2107.07651}, §3.3): a
 * momentum teacher's image–text similarities soften the one-hot targets, so
 * a caption that fits an image it is not paired with is not pushed away as
 * hard. With student logits ℓ = s·I Tᵀ (+ b) and the teacher's
 * m = s·I' T'ᵀ (the student's scale, held constant; I', T' L2-normalised
 * teacher embeddings):
 *
 *   q  = softmax_j(mᵢⱼ)   (image → text targets, per row)
 *   q' = softmax_i(mᵢⱼ)   (text → image targets, per column)
 *   soft = ½ [mean_i (lse_j ℓᵢⱼ − Σ_j qᵢⱼ ℓᵢⱼ) + mean_j (lse_i ℓᵢⱼ − Σ_i q'ᵢⱼ ℓᵢⱼ)]
 *   loss = (1 − α)·CLIP + α·soft
 *
 * which is ALBEF's `(1 − α)·one-hot + α·q` targets in one cross-entropy (the
 * bias cancels in `soft`: Σ q = 1). With q one-hot on the diagonal `soft` is
 * CLIP's loss. Both parts are `clipLoss` with target weights (`soft`'s are
 * W = (q + q')/2), so the `clip` entry runs the whole loss as one `clipLoss`
 * with `(1 − α)·hard + α·W`. ALBEF also keeps a queue of 65,536 teacher features as extra
 * negatives; novalab distils within the batch (the queue's benefit is the
 * larger negative set, which the batch gives at the batch sizes novalab
 * trains).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import { clipLoss } from "./clip.ts";
import { stopGradient } from "./common.ts";
import type { Scalar, Tensor2D } from "../core/tensor.ts";

/**
 * ALBEF's soft targets as `clipLoss` target weights: W = (q + q')/2 of the
 * teacher's similarities at the student's scale (held constant), q the row
 * softmax, q' the column softmax. Constant: no gradient reaches the teacher
 * or the scale through them.
 *
 * @param teacher The teacher's embeddings `[B, D]`, L2-normalised.
 * @param scale The logit scale s (only its value is used).
 * @returns W `[B, B]`, summing to B.
 */
export function distillTargets(
  teacher: { image: Tensor2D; text: Tensor2D },
  scale: number | Scalar,
): Tensor2D {
  return tf.tidy(() => {
    const fixed = typeof scale === "number" ? scale : stopGradient(scale);
    const m = stopGradient(
      tf.mul(matmul(teacher.image, teacher.text, { transposeB: true }), fixed),
    );
    const rows = tf.softmax(m);
    const cols = tf.transpose(tf.softmax(tf.transpose(m)));
    return tf.mul(tf.add(rows, cols), 0.5) as Tensor2D;
  });
}

/**
 * The soft-target part of momentum distillation (`soft` above): `clipLoss`
 * with {@linkcode distillTargets} (fused on WebGPU, `kernels/infonce.ts`).
 *
 * @param image Student image embeddings `[B, D]`, L2-normalised.
 * @param text Student text embeddings `[B, D]`, L2-normalised; row i pairs with image row i.
 * @param teacher The teacher's embeddings, L2-normalised, the same shapes (constants).
 * @param scale The logit scale s (a tensor keeps its gradient through the student logits only).
 */
export function softTargetLoss(
  image: Tensor2D,
  text: Tensor2D,
  teacher: { image: Tensor2D; text: Tensor2D },
  scale: number | Scalar,
): Scalar {
  const shapes = [image, text, teacher.image, teacher.text].map((t) => t.shape.join(","));
  if (image.rank !== 2 || new Set(shapes).size !== 1) {
    throw new Error(
      `softTargetLoss expects student and teacher embeddings of one shape [B, D], got image ` +
        `[${image.shape}], text [${text.shape}], image_teacher [${teacher.image.shape}], ` +
        `text_teacher [${teacher.text.shape}]`,
    );
  }
  return tf.tidy(() => clipLoss(image, text, { scale, targets: distillTargets(teacher, scale) }));
}
