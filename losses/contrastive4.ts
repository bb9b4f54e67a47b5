/**
 * The four-way base contrastive loss of "Understanding and Constructing Latent
 * Modality Structures in Multi-modal Representation Learning"
 * ({@link https://arxiv.org/abs/2303.05952 | arXiv 2303.05952}).
 *
 * With the original image view z_V, an augmented view z^a_V, text z_T and
 * (optionally) an augmented text z^a_T, all `[B, D]` and L2-normalised, and
 * InfoNCE(X, Y) = CE(s · X Yᵀ, diag):
 *
 *   L_con = ¼ (V2T + T2V + V2V + T2T)
 *   V2T + T2V = 2 · CLIP(z_V, z_T)          (the two directions of CLIP)
 *   V2V = CLIP(z_V, z^a_V),  T2T = CLIP(z_T, z^a_T)
 *
 * where CLIP(X, Y) = ½[InfoNCE(X, Y) + InfoNCE(Y, X)] (`clipLoss`). (recon.)
 * The intra-modal terms are taken symmetric (both directions averaged), and
 * without an augmented text (`text` `[B, D]`) T2T uses z^a_T = z_T: the
 * positive is the caption itself and the term only pushes different captions
 * apart. At s = 0 every term is ln B, so L_con = ln B.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { clipLoss } from "./clip.ts";
import { fmtShape, viewAt } from "./common.ts";

/** Options of {@linkcode contrastive4Loss}. */
export interface Contrastive4Options {
  /** Logit scale s (exp θ of CLIP's learnable temperature); a scalar tensor keeps its gradient. */
  scale: number | Scalar;
  /**
   * Target weights `[B, B]` in place of the diagonal for all four terms (a
   * constant: UniCL's multi-positive targets, `losses/multi_positive.ts` — with
   * groups, V2V and T2T are supervised contrastive terms, SupCon's).
   */
  targets?: Tensor2D;
}

/**
 * Checks `image` `[2, B, D]` and `text` `[B, D]` or `[2, B, D]` and returns
 * the original and augmented views of each (text augmented = text when absent).
 *
 * @param image Two image views `[2, B, D]`: original first, augmented second.
 * @param text Text `[B, D]`, or original and augmented text `[2, B, D]`.
 * @param what Name of the caller, for messages.
 * @returns `[z_V, z^a_V, z_T, z^a_T]`, each `[B, D]` (to be disposed by the caller's tidy).
 */
export function pairedViews(image: Tensor, text: Tensor, what: string): Tensor2D[] {
  const b = image.shape[1];
  const d = image.shape[2];
  const textOk = (text.rank === 2 && text.shape[0] === b && text.shape[1] === d) ||
    (text.rank === 3 && text.shape[0] === 2 && text.shape[1] === b && text.shape[2] === d);
  if (image.rank !== 3 || image.shape[0] !== 2 || !textOk) {
    throw new Error(
      `${what}: image ${fmtShape(image.shape)} and text ${fmtShape(text.shape)} do not match; ` +
        `expected image [2, B, D] (original, augmented view) and text [B, D] or [2, B, D]`,
    );
  }
  const texts = text.rank === 3 ? [viewAt(text, 0), viewAt(text, 1)] : [text as Tensor2D];
  return [viewAt(image, 0), viewAt(image, 1), texts[0]!, texts[1] ?? texts[0]!];
}

/**
 * ¼(V2T + T2V + V2V + T2T) InfoNCE over an image pair of views and text.
 *
 * @param image Two image views `[2, B, D]` (original, augmented), L2-normalised.
 * @param text Text `[B, D]` or two text views `[2, B, D]`, L2-normalised.
 * @param options The logit scale.
 * @returns The scalar loss (ln B at scale 0).
 */
export function contrastive4Loss(
  image: Tensor,
  text: Tensor,
  options: Contrastive4Options,
): Scalar {
  return tf.tidy(() => {
    const [v, va, t, ta] = pairedViews(image, text, "contrastive4Loss");
    const opts = { scale: options.scale, ...(options.targets && { targets: options.targets }) };
    const cross = tf.mul(clipLoss(v!, t!, opts), 2);
    const intra = tf.add(clipLoss(v!, va!, opts), clipLoss(t!, ta!, opts));
    return tf.mul(tf.add(cross, intra), 0.25) as Scalar;
  });
}
