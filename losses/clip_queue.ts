/**
 * CLIP's contrastive term against queues of momentum features — ALBEF's
 * image–text contrastive loss as its code computes it
 * ({@link https://arxiv.org/abs/2107.07651 | arXiv 2107.07651}, §3.2–3.3):
 * the student's features are the queries, the momentum teachers' features of
 * this batch and the queues of earlier batches' (`queue` nodes) are the keys,
 * as MoCo's (arXiv 1911.05722). With L2-normalised rows, keys
 * `Kₜ = [T'; Qₜ]` and `Kᵢ = [I'; Qᵢ]` (`[B + K, D]`) and scale s:
 *
 *   ℓ_i2t = s·I Kₜᵀ,  ℓ_t2i = s·T Kᵢᵀ   (`[B, B + K]`; row i's positive is column i)
 *   W_i2t = (1 − α)·[j = i] + α·softmax_j(s·I' Kₜᵀ)   (W_t2i likewise, with T', Kᵢ)
 *   loss  = ½ [mean_i (lse_j ℓ_i2t − Σ_j W_i2t ℓ_i2t) + mean_i (lse_j ℓ_t2i − Σ_j W_t2i ℓ_t2i)]
 *
 * With group ids (a `group_queue` node bound to `groups`) the one-hot `[j = i]`
 * becomes ALBEF's retrieval targets: 1/pᵢ on every key whose sample shares
 * row i's group, batch and queue alike (`queuedPositiveTargets`).
 * With `batchKeys: "student"` the batch part of the keys is the students' own
 * `T` and `I` (with gradient: CLIP's in-batch contrast plus the queued
 * negatives), the soft targets still the teachers' against `[T'; Qₜ]`.
 * α = 0 is MoCo-style CLIP (one-hot targets, momentum keys); the targets are
 * constants (the scale held fixed in them), and no gradient reaches the teachers or queues.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { logSumExp } from "../kernels/logsumexp.ts";
import { matmul } from "../models/matmul.ts";
import { fmtShape, stopGradient } from "./common.ts";

/** The keys of {@linkcode queueClipLoss}: the teachers' batch features and the queues. */
export interface QueueKeys {
  /** Teacher image features of this batch `[B, D]`, L2-normalised. */
  image: Tensor2D;
  /** Teacher text features of this batch `[B, D]`, L2-normalised. */
  text: Tensor2D;
  /** Earlier batches' teacher image features `[K, D]`, L2-normalised. */
  imageQueue: Tensor2D;
  /** Earlier batches' teacher text features `[K, D]`, L2-normalised. */
  textQueue: Tensor2D;
}

/** Options of {@linkcode queueClipLoss}. */
export interface QueueClipOptions {
  /** Logit scale s; a scalar tensor keeps its gradient through the student logits. */
  scale: number | Scalar;
  /** Optional logit bias b (cancels: every row of targets sums to 1). */
  bias?: number | Scalar;
  /** Distillation weight α in [0, 1] (a number or a scalar host value). */
  alpha: number | Scalar;
  /**
   * Hard targets `[B, B + K]` over `[batch; queue]` for both directions (ALBEF's
   * retrieval `sim_targets` from group ids: `losses/multi_positive.ts`
   * `queuedPositiveTargets`; both queues hold the same samples' rows, so one
   * matrix serves both). Absent: row i's positive is key i alone.
   */
  targets?: Tensor2D;
  /**
   * The in-batch keys beside the queues: `"teacher"` (default; ALBEF's code,
   * MoCo) or `"student"` — the students' own features of this batch, with
   * gradient (CLIP's in-batch contrast plus the queued negatives). The
   * distillation targets come from the teachers' keys either way.
   */
  batchKeys?: "teacher" | "student";
}

/**
 * One direction: `query` against `keys` (`[batch; queue]`), soft targets from
 * `teacher` against `teacherKeys` when α > 0.
 */
function direction(
  query: Tensor2D,
  teacher: Tensor2D,
  keys: Tensor2D,
  teacherKeys: Tensor2D,
  options: QueueClipOptions,
): Scalar {
  const b = query.shape[0];
  let logits: Tensor = tf.mul(matmul(query, keys, { transposeB: true }), options.scale);
  if (options.bias !== undefined) logits = tf.add(logits, options.bias);
  const hard = options.targets ?? tf.pad(tf.eye(b), [[0, 0], [0, keys.shape[0] - b]]);
  let targets: Tensor = hard;
  if (options.alpha !== 0) {
    // The teacher's own similarities to the keys, at the scale held fixed (MoCo: none at α = 0).
    const fixed = typeof options.scale === "number" ? options.scale : stopGradient(options.scale);
    const sims = tf.mul(matmul(teacher, teacherKeys, { transposeB: true }), fixed);
    const soft = tf.softmax(stopGradient(sims));
    targets = tf.add(tf.mul(hard, tf.sub(1, options.alpha)), tf.mul(soft, options.alpha));
  }
  const lse = tf.mean(logSumExp(logits as Tensor2D, 1));
  return tf.sub(lse, tf.div(tf.sum(tf.mul(targets, logits)), b)) as Scalar;
}

/** Whether hard targets are `[B, B + K]` with both queues of K rows. */
function targetsFit(targets: Tensor2D, b: number, keys: QueueKeys): boolean {
  const k = keys.imageQueue.shape[0];
  return keys.textQueue.shape[0] === k && targets.shape.join() === `${b},${b + k}`;
}

/**
 * ALBEF's queued contrastive loss (the formula above).
 *
 * @param image Student image features `[B, D]`, L2-normalised.
 * @param text Student text features `[B, D]`, L2-normalised; row i pairs with image row i.
 * @param keys The teachers' batch features and the queues.
 * @param options Scale, optional bias, distillation weight.
 * @returns The scalar loss.
 */
export function queueClipLoss(
  image: Tensor2D,
  text: Tensor2D,
  keys: QueueKeys,
  options: QueueClipOptions,
): Scalar {
  const [b, d] = image.shape;
  const ok = [image, text, keys.image, keys.text].every((t) => t.shape.join() === `${b},${d}`) &&
    keys.imageQueue.shape[1] === d && keys.textQueue.shape[1] === d &&
    (options.targets === undefined || targetsFit(options.targets, b, keys));
  if (!ok) {
    throw new Error(
      `queueClipLoss expects image, text and the teachers' features [B, D] and queues [K, D], ` +
        `got image ${fmtShape(image.shape)}, text ${fmtShape(text.shape)}, image_teacher ` +
        `${fmtShape(keys.image.shape)}, text_teacher ${fmtShape(keys.text.shape)}, image_queue ` +
        `${fmtShape(keys.imageQueue.shape)}, text_queue ${fmtShape(keys.textQueue.shape)}` +
        (options.targets ? `, targets ${fmtShape(options.targets.shape)} ([B, B + K])` : ""),
    );
  }
  return tf.tidy(() => {
    const textKeys = stopGradient(tf.concat([keys.text, keys.textQueue])) as Tensor2D;
    const imageKeys = stopGradient(tf.concat([keys.image, keys.imageQueue])) as Tensor2D;
    // Student batch keys carry gradient; the queues never do.
    const student = options.batchKeys === "student";
    const keyed = (batch: Tensor2D, queue: Tensor2D, teacher: Tensor2D) =>
      student ? tf.concat([batch, stopGradient(queue)]) as Tensor2D : teacher;
    const i2t = direction(
      image,
      keys.image,
      keyed(text, keys.textQueue, textKeys),
      textKeys,
      options,
    );
    const t2i = direction(
      text,
      keys.text,
      keyed(image, keys.imageQueue, imageKeys),
      imageKeys,
      options,
    );
    return tf.mul(tf.add(i2t, t2i), 0.5) as Scalar;
  });
}
