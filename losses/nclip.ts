/**
 * The non-contrastive objective of nCLIP
 * ({@link https://arxiv.org/abs/2210.09304 | arXiv 2210.09304}).
 *
 * Each modality's prototype head gives logits `[B, Kp]` over Kp prototypes
 * (32768 in the paper). With prediction distributions p = softmax(ℓ / τ) and
 * target distributions q = softmax(ℓ / τ_t) (optionally stop-gradient), each
 * modality supervises the other:
 *
 *   cross      = mean_b CE(q_T, p_V) + mean_b CE(q_V, p_T),  CE(q, p) = −Σ_k q_k log p_k
 *   sharpness  = mean_b H(p_V) + mean_b H(p_T)              (minimised)
 *   smoothness = H(mean_b p_V) + H(mean_b p_T)              (maximised)
 *   loss = w_c·cross + w_sh·sharpness − w_sm·smoothness
 *
 * For uniform outputs the cross term is exactly 2 ln Kp. Without smoothness,
 * every sample on one shared prototype (cross = sharpness = 0) is a global
 * minimum: that collapse is what the smoothness term rules out.
 * Reconstructed (recon.) from the paper: temperatures, weights and whether the
 * target side is sharpened (τ_t < τ) or stop-gradient; the defaults are
 * τ = τ_t = 0.1, no stop-gradient, all weights 1 (see docs/methods/nclip.md).
 * On WebGPU with novalab's kernels the weighted loss is three dispatches
 * forward and two backward (`kernels/nclip.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { fmtShape, stopGradient } from "./common.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { nclipFused } from "../kernels/nclip.ts";

/** Options of {@linkcode nclipTerms} and {@linkcode nclipLoss}; every field has a default. */
export interface NclipOptions {
  /** Temperature τ of the predicted distributions (default 0.1, recon.). */
  temperature?: number;
  /** Temperature τ_t of the target distributions; below τ sharpens them (default 0.1, recon.). */
  targetTemperature?: number;
  /** Whether no gradient flows through the targets (default false, recon.). */
  stopGradient?: boolean;
  /** Weight w_c of the cross term (default 1, recon.). */
  crossWeight?: number;
  /** Weight w_sh of the sharpness term (default 1, recon.). */
  sharpnessWeight?: number;
  /** Weight w_sm of the smoothness term, subtracted (default 1, recon.). */
  smoothnessWeight?: number;
}

/** The three nCLIP terms, each summed over both modalities (scalars). */
export interface NclipTerms {
  /** Cross-modal cross-entropy, both directions (2 ln Kp for uniform outputs). */
  cross: Scalar;
  /** Mean per-sample entropy of the predictions (0 when one-hot). */
  sharpness: Scalar;
  /** Entropy of the batch-mean prediction (0 at collapse, up to 2 ln min(B, Kp)). */
  smoothness: Scalar;
}

/** Entropy of each row of a distribution given by its log-probabilities: `[B, K]` → `[B]`. */
function rowEntropy(logp: Tensor): Tensor {
  return tf.neg(tf.sum(tf.mul(tf.exp(logp), logp), -1));
}

/** Entropy of the batch-mean distribution of `logp` `[B, K]`, 0·log 0 taken as 0. */
function meanEntropy(logp: Tensor): Tensor {
  const mean = tf.mean(tf.exp(logp), 0);
  return tf.neg(tf.sum(tf.mul(mean, tf.log(tf.maximum(mean, 1e-30)))));
}

function checkLogits(image: Tensor, text: Tensor): void {
  if (image.rank !== 2 || text.rank !== 2 || image.shape.some((d, i) => d !== text.shape[i])) {
    throw new Error(
      `nclip expects prototype logits of the same shape [B, Kp] for image and text, got ` +
        `image ${fmtShape(image.shape)} and text ${fmtShape(text.shape)}`,
    );
  }
}

function checkTemperatures(options: NclipOptions): [number, number] {
  const tau = options.temperature ?? 0.1;
  const tauT = options.targetTemperature ?? tau;
  for (const [name, value] of [["temperature", tau], ["targetTemperature", tauT]] as const) {
    if (!(value > 0) || !Number.isFinite(value)) {
      throw new Error(`nclip: ${name} must be a finite number > 0 (e.g. 0.1), got ${value}`);
    }
  }
  return [tau, tauT];
}

/**
 * The cross, sharpness and smoothness terms of nCLIP, unweighted.
 *
 * @param image Image prototype logits `[B, Kp]`.
 * @param text Text prototype logits `[B, Kp]`; row i matches image row i.
 * @param options Temperatures and target stop-gradient (weights are ignored here).
 * @returns The three terms; the caller disposes them.
 */
export function nclipTerms(
  image: Tensor2D,
  text: Tensor2D,
  options: NclipOptions = {},
): NclipTerms {
  checkLogits(image, text);
  const [tau, tauT] = checkTemperatures(options);
  const [cross, sharpness, smoothness] = tf.tidy(() => {
    const logp = [image, text].map((l) => tf.logSoftmax(tf.div(l, tau)));
    const target = [image, text].map((l) => {
      const q = tf.softmax(tf.div(l, tauT));
      return options.stopGradient ? stopGradient(q) : q;
    });
    // CE(q_T, p_V) + CE(q_V, p_T), each averaged over the batch.
    const ce = (q: Tensor, lp: Tensor) => tf.mean(tf.neg(tf.sum(tf.mul(q, lp), -1)));
    return [
      tf.add(ce(target[1]!, logp[0]!), ce(target[0]!, logp[1]!)),
      tf.add(tf.mean(rowEntropy(logp[0]!)), tf.mean(rowEntropy(logp[1]!))),
      tf.add(meanEntropy(logp[0]!), meanEntropy(logp[1]!)),
    ] as Scalar[];
  });
  return { cross: cross!, sharpness: sharpness!, smoothness: smoothness! };
}

/**
 * The weighted nCLIP loss w_c·cross + w_sh·sharpness − w_sm·smoothness.
 *
 * @param image Image prototype logits `[B, Kp]`.
 * @param text Text prototype logits `[B, Kp]`; row i matches image row i.
 * @param options Temperatures, target stop-gradient and term weights.
 * @returns The scalar loss; for uniform outputs 2 ln Kp · (w_c + w_sh − w_sm).
 */
export function nclipLoss(image: Tensor2D, text: Tensor2D, options: NclipOptions = {}): Scalar {
  const w = [options.crossWeight ?? 1, options.sharpnessWeight ?? 1, options.smoothnessWeight ?? 1];
  if (novalabKernelsActive() && image.dtype === "float32" && text.dtype === "float32") {
    checkLogits(image, text);
    const [tau, tauT] = checkTemperatures(options);
    return nclipFused(image, text, {
      tau,
      tauT,
      wc: w[0]!,
      wsh: w[1]!,
      wsm: w[2]!,
      stopGradient: options.stopGradient === true,
    });
  }
  return tf.tidy(() => {
    const t = nclipTerms(image, text, options);
    return tf.sub(
      tf.add(tf.mul(t.cross, w[0]!), tf.mul(t.sharpness, w[1]!)),
      tf.mul(t.smoothness, w[2]!),
    ) as Scalar;
  });
}

/** Options of {@linkcode prototypeUsage}. */
export interface PrototypeUsageOptions {
  /**
   * `argmax` (default): how many prototypes are the argmax of at least one
   * sample. `perplexity`: exp of the entropy of the batch-mean distribution
   * softmax(ℓ / temperature), a soft count in `[1, min(B, Kp)]`-ish.
   */
  measure?: "argmax" | "perplexity";
  /** Temperature of the `perplexity` measure (default 0.1). */
  temperature?: number;
}

/**
 * A collapse diagnostic for prototype heads: how many prototypes the batch
 * uses. 1 means collapse; a healthy head uses many. Asynchronous because it
 * reads the tensor back (`dataSync` fails under WebGPU).
 *
 * @param logits Prototype logits `[..., Kp]` (leading axes are flattened into samples).
 * @param options Which measure, and the temperature of the soft one.
 * @returns The number of prototypes in use (an integer for `argmax`).
 */
export async function prototypeUsage(
  logits: Tensor,
  options: PrototypeUsageOptions = {},
): Promise<number> {
  if (logits.rank < 1 || logits.size === 0) {
    throw new Error(`prototypeUsage expects logits [..., Kp], got ${fmtShape(logits.shape)}`);
  }
  const measure = options.measure ?? "argmax";
  if (measure !== "argmax" && measure !== "perplexity") {
    throw new Error(`prototypeUsage: unknown measure "${measure}"; choices: argmax, perplexity`);
  }
  const kp = logits.shape.at(-1)!;
  const out = tf.tidy(() => {
    const flat = tf.reshape(logits, [-1, kp]);
    if (measure === "argmax") return tf.argMax(flat, 1);
    return tf.exp(meanEntropy(tf.logSoftmax(tf.div(flat, options.temperature ?? 0.1))));
  });
  const values = await out.data();
  out.dispose();
  return measure === "argmax" ? new Set(values).size : values[0]!;
}
