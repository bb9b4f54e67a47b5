/**
 * The Brownian-bridge inter-modal regulariser of "Understanding and
 * Constructing Latent Modality Structures in Multi-modal Representation
 * Learning" ({@link https://arxiv.org/abs/2303.05952 | arXiv 2303.05952}),
 * in its definitional form.
 *
 * The augmented image embedding z^a_V should sit on the bridge between the
 * original image embedding z_V and its text z_T, at time t:
 *
 *   μ = normalise(t · z_V + (1 − t) · z_T),   t = 0.25
 *   loss = mean_b ‖z^a_V − μ‖²
 *
 * All inputs L2-normalised; gradients flow through μ as well (no
 * stop-gradient). (recon.) The paper's bridge is a density; this is the
 * squared distance to its mean, without the 1/(2t(1−t)) variance factor.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { fmtShape, l2Normalize, viewAt } from "./common.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { predictionLoss } from "./prediction.ts";

/** Options of {@linkcode brownianBridgeLoss}. */
export interface BrownianBridgeOptions {
  /** Bridge time t in `[0, 1]`: weight of the image end (default 0.25). */
  t?: number;
}

/**
 * Squared distance of the augmented image view to the normalised bridge point.
 *
 * @param image Two image views `[2, B, D]`: original z_V, augmented z^a_V (L2-normalised).
 * @param text Text z_T `[B, D]` (or `[V, B, D]`, of which the first view is used), L2-normalised.
 * @param options Bridge time t.
 * @returns The scalar loss (0 when z^a_V = μ; at most 4).
 */
export function brownianBridgeLoss(
  image: Tensor,
  text: Tensor,
  options: BrownianBridgeOptions = {},
): Scalar {
  const [b, d] = [image.shape[1], image.shape[2]];
  const textBd = text.shape.slice(-2);
  if (
    image.rank !== 3 || image.shape[0] !== 2 || (text.rank !== 2 && text.rank !== 3) ||
    textBd[0] !== b || textBd[1] !== d
  ) {
    throw new Error(
      `brownianBridgeLoss: image ${fmtShape(image.shape)} and text ${fmtShape(text.shape)} ` +
        `do not match; expected image [2, B, D] (original, augmented view) and text [B, D]`,
    );
  }
  const t = options.t ?? 0.25;
  if (!(t >= 0 && t <= 1)) {
    throw new Error(`brownianBridgeLoss: t must be in [0, 1] (default 0.25), got ${t}`);
  }
  return tf.tidy(() => {
    const zt = text.rank === 3 ? viewAt(text, 0) : text as Tensor2D;
    const mu = l2Normalize(tf.add(tf.mul(viewAt(image, 0), t), tf.mul(zt, 1 - t)));
    const augmented = viewAt(image, 1);
    if (novalabKernelsActive() && augmented.dtype === "float32") {
      // mean_b Σ_d (·)² = D · mean (·)²: the fused squared error (one dispatch each way).
      return tf.mul(predictionLoss(augmented, mu), d!) as Scalar;
    }
    return tf.mean(tf.sum(tf.square(tf.sub(augmented, mu)), -1)) as Scalar;
  });
}
