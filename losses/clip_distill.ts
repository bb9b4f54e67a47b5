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
 * CLIP's loss. ALBEF also keeps a queue of 65,536 teacher features as extra
 * negatives; novalab distils within the batch (the queue's benefit is the
 * larger negative set, which the batch gives at the batch sizes novalab
 * trains).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { matmul } from "../models/matmul.ts";
import { logSumExp } from "../kernels/logsumexp.ts";
import { stopGradient } from "./common.ts";
import type { Scalar, Tensor2D } from "../core/tensor.ts";

/**
 * The soft-target part of momentum distillation (`soft` above).
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
  return tf.tidy(() => {
    const fixed = typeof scale === "number" ? scale : stopGradient(scale);
    const m = stopGradient(
      tf.mul(matmul(teacher.image, teacher.text, { transposeB: true }), fixed),
    );
    const rowTargets = tf.softmax(m);
    const colTargets = tf.transpose(tf.softmax(tf.transpose(m)));
    const logits = tf.mul(matmul(image, text, { transposeB: true }), scale);
    const rows = tf.sub(
      tf.mean(logSumExp(logits, 1)),
      tf.div(tf.sum(tf.mul(rowTargets, logits)), image.shape[0]),
    );
    const cols = tf.sub(
      tf.mean(logSumExp(logits, 0)),
      tf.div(tf.sum(tf.mul(colTargets, logits)), image.shape[0]),
    );
    return tf.mul(tf.add(rows, cols), 0.5) as Scalar;
  });
}
