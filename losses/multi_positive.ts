/**
 * Multi-positive targets for the contrastive losses: every image–text pair of
 * a batch whose samples share a group is a positive, not only the diagonal.
 * On data whose captions repeat (class-template captions, web alt-texts such
 * as "image"), one-hot InfoNCE pushes apart pairs that match exactly; UniCL
 * ({@link https://arxiv.org/abs/2204.03610 | Yang et al., arXiv 2204.03610},
 * Eq. 2–3) counts them as positives instead — supervised contrastive
 * learning (SupCon) across the two modalities.
 *
 * Groups are integer ids per sample (`batch.label`; an id < 0 — unknown — is
 * a group of its own) or the batch's captions (equal strings, one group).
 * With M ∈ {0, 1}^{B×B}, Mᵢⱼ = [i and j share a group] (Mᵢᵢ = 1), pᵢ = Σⱼ Mᵢⱼ
 * and logits ℓ = s·I Tᵀ + b:
 *
 *   L_i2t = −(1/B) Σᵢ (1/pᵢ) Σ_{j: Mᵢⱼ=1} log softmax_j(ℓᵢ·)ⱼ
 *   L_t2i = −(1/B) Σⱼ (1/pⱼ) Σ_{i: Mᵢⱼ=1} log softmax_i(ℓ·ⱼ)ᵢ
 *   loss  = ½ (L_i2t + L_t2i)
 *         = ½ [mean_i lse_j ℓᵢⱼ + mean_j lse_i ℓᵢⱼ] − (1/B) Σᵢⱼ Wᵢⱼ ℓᵢⱼ,  W = M / p
 *
 * (M is symmetric and pᵢ = pⱼ wherever Mᵢⱼ = 1, so both directions share W.)
 * With every group a singleton, M = 𝟙 and the loss is CLIP's. SigLIP's
 * pairwise labels become zᵢⱼ = 2Mᵢⱼ − 1.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { hostValue } from "../core/host_value.ts";
import type { Scalar, Tensor, Tensor1D, Tensor2D } from "../core/tensor.ts";
import { clipLoss, type ClipLossOptions } from "./clip.ts";
import { describeValue, type LossInputs } from "./entry_inputs.ts";
import { fmtShape } from "./common.ts";

/**
 * Group ids of a batch's texts: each text's id is the index of its first
 * occurrence, so equal strings share an id.
 *
 * @param texts The batch's captions.
 * @returns `[B]` ids, each ≥ 0.
 */
export function textGroupIds(texts: readonly string[]): Int32Array {
  const first = new Map<string, number>();
  return Int32Array.from(texts, (text, i) => {
    if (!first.has(text)) first.set(text, i);
    return first.get(text)!;
  });
}

/**
 * The positive-pair mask M `[B, B]` (float 0/1) of integer group ids `[B]`:
 * 1 where two samples share an id ≥ 0, and on the diagonal. A constant of
 * the loss: no gradient flows back to the ids, whatever computed them.
 *
 * @param groups Group ids `[B]`, int32; < 0 means unknown.
 * @returns M, symmetric, with ones on its diagonal.
 */
export function positivePairs(groups: Tensor1D): Tensor2D {
  if (groups.dtype !== "int32" || groups.rank !== 1) {
    throw new Error(
      `positivePairs expects int32 group ids [B], got ${groups.dtype} ${fmtShape(groups.shape)}`,
    );
  }
  return constantPairs(groups) as Tensor2D;
}

// Equal has no gradient: the mask is made inside a custom gradient that returns zeros.
const constantPairs = tf.customGrad((ids, _save) => ({
  value: samePairs(ids as Tensor1D),
  gradFunc: () => tf.zeros((ids as Tensor).shape),
}));

/** M of int32 ids (see {@linkcode positivePairs}). */
function samePairs(ids: Tensor1D): Tensor2D {
  return tf.tidy(() => {
    const b = ids.shape[0];
    // Unknown ids become −1 − i: distinct from each other and from every known id.
    const own = tf.sub(tf.scalar(-1, "int32"), tf.range(0, b, 1, "int32"));
    const unique = tf.where(tf.greaterEqual(ids, 0), ids, own);
    return tf.cast(tf.equal(tf.expandDims(unique, 1), tf.expandDims(unique, 0)), "float32");
  });
}

/**
 * The multi-positive mask of the optional `groups` input of a contrastive
 * term: `batch.label`-like ids `[B]`, or the batch's captions (a list of `B`
 * strings, compared as a host value so a replayed step compares its own).
 *
 * @param kind Loss kind, for messages.
 * @param inputs The term's inputs.
 * @param batch The batch size B of the term's text input.
 * @returns M `[B, B]`, or `undefined` when `groups` is unbound.
 */
export function groupsInput(kind: string, inputs: LossInputs, batch: number): Tensor2D | undefined {
  const value = inputs["groups"];
  if (value === undefined) return undefined;
  const expected = `int32 ids [${batch}] (batch.label) or ${batch} strings (batch.caption)`;
  if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
    if (value.length !== batch) {
      throw new Error(
        `loss ${kind}: input "groups" has ${value.length} texts; expected ${expected}`,
      );
    }
    const texts = value as string[];
    return tf.tidy(() =>
      positivePairs(hostValue((host) => textGroupIds(host.input(texts)), [batch]) as Tensor1D)
    );
  }
  if (
    !(value instanceof tf.Tensor) || value.rank !== 1 || value.shape[0] !== batch ||
    value.dtype !== "int32"
  ) {
    // Only clip has queues to pair a group_queue node's ids with.
    const queued = kind === "clip" && value instanceof tf.Tensor && value.rank === 1 &&
      value.shape[0] > batch;
    throw new Error(
      `loss ${kind}: input "groups" must be ${expected}, got ${describeValue(value)}` +
        (value instanceof tf.Tensor ? ` ${value.dtype}` : "") +
        (queued ? " (a group_queue node's ids go with image_queue and text_queue bound)" : ""),
    );
  }
  return positivePairs(value as Tensor1D);
}

/**
 * The hard targets of the optional `groups` input of a contrastive term with
 * queues: a `group_queue` node's `[B + K]` ids (the batch's, then the
 * queue's), as {@linkcode queuedPositiveTargets}.
 *
 * @param kind Loss kind, for messages.
 * @param inputs The term's inputs.
 * @param batch B.
 * @param queued K, the rows of the feature queues.
 * @returns W `[B, B + K]`, or `undefined` when `groups` is unbound.
 */
export function queuedGroupsInput(
  kind: string,
  inputs: LossInputs,
  batch: number,
  queued: number,
): Tensor2D | undefined {
  const value = inputs["groups"];
  if (value === undefined) return undefined;
  if (
    !(value instanceof tf.Tensor) || value.rank !== 1 || value.dtype !== "int32" ||
    value.shape[0] !== batch + queued
  ) {
    throw new Error(
      `loss ${kind}: with image_queue/text_queue, input "groups" must be int32 ids [${batch} + ` +
        `${queued}] — this batch's, then those of the queues' rows — got ` +
        `${describeValue(value)}${value instanceof tf.Tensor ? ` ${value.dtype}` : ""}; bind it ` +
        `to a group_queue node (size ${queued}, input batch.label or batch.caption)`,
    );
  }
  return queuedPositiveTargets(value as Tensor1D, batch);
}

/**
 * The hard targets of a queued contrastive term with groups (ALBEF's
 * retrieval `sim_targets`): row i over the keys `[this batch; queue]`, 1/pᵢ
 * where the key's id equals sample i's (ids ≥ 0; the diagonal always), 0
 * elsewhere — the queue's unknown ids (< 0, its start) are never positives.
 * A constant: no gradient reaches the ids.
 *
 * @param ids int32 `[B + K]`: the batch's ids, then the queue's (a
 *   `group_queue` node's output).
 * @param batch B.
 * @returns W `[B, B + K]`, each row summing to 1.
 */
export function queuedPositiveTargets(ids: Tensor1D, batch: number): Tensor2D {
  if (ids.dtype !== "int32" || ids.rank !== 1 || ids.shape[0] < batch) {
    throw new Error(
      `queuedPositiveTargets expects int32 ids [B + K] with B = ${batch}, got ${ids.dtype} ` +
        fmtShape(ids.shape),
    );
  }
  // As `positivePairs`: made inside a custom gradient, so no gradient is asked of Equal.
  const constantMask = tf.customGrad((x, _save) => ({
    value: queuedPairs(x as Tensor1D, batch),
    gradFunc: () => tf.zeros((x as Tensor).shape),
  }));
  return tf.tidy(() => {
    const mask = constantMask(ids) as Tensor2D;
    return tf.div(mask, tf.sum(mask, 1, true)) as Tensor2D;
  });
}

/** The 0/1 mask of {@linkcode queuedPositiveTargets}, `[B, B + K]`. */
function queuedPairs(ids: Tensor1D, batch: number): Tensor2D {
  return tf.tidy(() => {
    const keys = ids.shape[0];
    const own = tf.expandDims(tf.slice(ids, 0, batch), 1);
    const same = tf.logicalAnd(tf.equal(own, tf.expandDims(ids, 0)), tf.greaterEqual(own, 0));
    const diagonal = tf.pad(tf.eye(batch), [[0, 0], [0, keys - batch]]);
    return tf.maximum(tf.cast(same, "float32"), diagonal) as Tensor2D;
  });
}

/**
 * UniCL's target weights W = M / p `[B, B]` of a positive mask M: each row
 * (and, M being a same-group relation, each column) sums to 1.
 *
 * @param positives M `[B, B]` from {@linkcode positivePairs}.
 * @returns W, for {@linkcode ClipLossOptions}'s `targets`.
 */
export function positiveTargets(positives: Tensor2D): Tensor2D {
  return tf.tidy(() => tf.div(positives, tf.sum(positives, 1, true)) as Tensor2D);
}

/**
 * CLIP's symmetric cross-entropy with every same-group pair a positive
 * (UniCL; the formula in this module's header): `clipLoss` with
 * {@linkcode positiveTargets} (fused on WebGPU, `kernels/infonce.ts`).
 *
 * @param image Image embeddings `[B, D]`, already L2-normalised.
 * @param text Text embeddings `[B, D]`, already L2-normalised; row i pairs with image row i.
 * @param positives M `[B, B]` from {@linkcode positivePairs} (a constant).
 * @param options Logit scale and optional bias.
 * @returns The scalar loss; CLIP's when M = 𝟙.
 */
export function multiPositiveClipLoss(
  image: Tensor2D,
  text: Tensor2D,
  positives: Tensor2D,
  options: ClipLossOptions,
): Scalar {
  const b = image.shape[0];
  if (positives.shape.join() !== `${b},${b}`) {
    throw new Error(
      `multiPositiveClipLoss expects positives [B, B] for image ${fmtShape(image.shape)}, got ` +
        `positives ${fmtShape(positives.shape)}`,
    );
  }
  return tf.tidy(() => clipLoss(image, text, { ...options, targets: positiveTargets(positives) }));
}
