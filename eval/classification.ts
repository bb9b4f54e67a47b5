/**
 * Classification metrics as pure functions of scores and labels: top-k hits,
 * per-class accuracy, AUROC (the Mann–Whitney U statistic, ties counted ½),
 * and the confusion counts, MCC and F1 of a thresholded score. Every function
 * takes optional per-sample `weights` (bootstrap multiplicities; default 1), so
 * {@link bootstrapCI} can resample without copying data.
 *
 * @module
 */
import type { Matrix } from "./linalg.ts";

/**
 * Whether each sample's label is among its `k` highest scores (ties: lower
 * class index first). A NaN score (a diverged model's) ranks below every
 * number: a NaN own score is never a hit, a NaN rival never ahead.
 */
export function topKHits(scores: Matrix, labels: ArrayLike<number>, k: number): Uint8Array {
  const hits = new Uint8Array(scores.rows);
  for (let i = 0; i < scores.rows; i++) {
    const label = labels[i]!;
    if (label < 0 || label >= scores.cols) continue;
    const own = scores.data[i * scores.cols + label]!;
    if (Number.isNaN(own)) continue;
    let ahead = 0;
    for (let c = 0; c < scores.cols; c++) {
      const s = scores.data[i * scores.cols + c]!;
      if (s > own || (s === own && c < label)) ahead++;
    }
    hits[i] = ahead < k ? 1 : 0;
  }
  return hits;
}

/**
 * Index of the largest score of each row (first one on ties; NaN below every
 * number), or −1 for a row with no number (no class: a miss everywhere).
 */
export function argmaxRows(scores: Matrix): Int32Array {
  const out = new Int32Array(scores.rows);
  for (let i = 0; i < scores.rows; i++) {
    let best = -1;
    for (let c = 0; c < scores.cols; c++) {
      const s = scores.data[i * scores.cols + c]!;
      if (!Number.isNaN(s) && (best < 0 || s > scores.data[i * scores.cols + best]!)) best = c;
    }
    out[i] = best;
  }
  return out;
}

/** Weighted mean of `values` (weights default to 1); NaN when the total weight is 0. */
export function weightedMean(values: ArrayLike<number>, weights?: ArrayLike<number>): number {
  let s = 0, w = 0;
  for (let i = 0; i < values.length; i++) {
    const wi = weights ? weights[i]! : 1;
    s += wi * values[i]!;
    w += wi;
  }
  return w > 0 ? s / w : NaN;
}

/**
 * Accuracy within each class: the fraction of samples labelled `c` that were
 * predicted `c` (NaN for a class without samples). Labels `< 0` are ignored.
 *
 * @returns `[classes]` accuracies.
 */
export function perClassAccuracy(
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
  options: { classes: number; weights?: ArrayLike<number> },
): Float64Array {
  const right = new Float64Array(options.classes);
  const total = new Float64Array(options.classes);
  for (let i = 0; i < labels.length; i++) {
    const label = labels[i]!;
    if (label < 0 || label >= options.classes) continue;
    const w = options.weights ? options.weights[i]! : 1;
    total[label]! += w;
    if (predictions[i] === label) right[label]! += w;
  }
  return right.map((r, c) => (total[c]! > 0 ? r / total[c]! : NaN));
}

/**
 * Sample indices sorted by ascending score (stable). Sort once and pass it to
 * {@link auroc} to evaluate many weightings (bootstrap resamples) in O(N) each.
 */
export function ascendingOrder(scores: ArrayLike<number>): Int32Array {
  return Int32Array.from({ length: scores.length }, (_, i) => i).sort((a, b) =>
    scores[a]! - scores[b]! || a - b
  );
}

/** Options of {@link auroc}. */
export interface AurocOptions {
  /** Per-sample multiplicities (bootstrap); default 1 each. */
  weights?: ArrayLike<number>;
  /** `ascendingOrder(scores)`, when already computed. */
  order?: Int32Array;
}

/**
 * Area under the ROC curve: the probability that a random positive scores
 * above a random negative, ties counting ½ — equal to the Mann–Whitney
 * U statistic divided by `n₊·n₋`. Targets `> 0` are positive, `0` negative,
 * `< 0` (unknown) ignored.
 *
 * @param scores `[N]` scores (higher = more positive).
 * @param targets `[N]` binary targets.
 * @returns AUROC in `[0, 1]`, or NaN when either class is absent.
 */
export function auroc(
  scores: ArrayLike<number>,
  targets: ArrayLike<number>,
  options: AurocOptions = {},
): number {
  const order = options.order ?? ascendingOrder(scores);
  const w = options.weights;
  for (let i = 0; i < scores.length; i++) {
    if (Number.isNaN(scores[i])) {
      throw new Error(
        `auroc: sample ${i}'s score is NaN (the model's outputs are not finite); AUROC ranks ` +
          "numbers only",
      );
    }
  }
  let negBelow = 0, pos = 0, neg = 0, u = 0;
  for (let start = 0; start < order.length;) {
    let end = start;
    let groupPos = 0, groupNeg = 0;
    const s = scores[order[start]!]!;
    for (; end < order.length && scores[order[end]!] === s; end++) {
      const i = order[end]!, t = targets[i]!;
      const wi = w ? w[i]! : 1;
      if (t > 0) groupPos += wi;
      else if (t === 0) groupNeg += wi;
    }
    u += groupPos * (negBelow + groupNeg / 2);
    negBelow += groupNeg;
    pos += groupPos;
    neg += groupNeg;
    start = end;
  }
  return pos > 0 && neg > 0 ? u / (pos * neg) : NaN;
}

/** Weighted confusion counts of a thresholded binary decision. */
export interface Confusion {
  /** Positives predicted positive. */
  tp: number;
  /** Negatives predicted positive. */
  fp: number;
  /** Negatives predicted negative. */
  tn: number;
  /** Positives predicted negative. */
  fn: number;
}

/**
 * Confusion counts when a sample is predicted positive iff `score >= threshold`.
 * Targets `> 0` positive, `0` negative, `< 0` ignored.
 */
export function confusion(
  scores: ArrayLike<number>,
  targets: ArrayLike<number>,
  options: { threshold: number; weights?: ArrayLike<number> },
): Confusion {
  const c: Confusion = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < scores.length; i++) {
    const t = targets[i]!;
    if (t < 0) continue;
    const w = options.weights ? options.weights[i]! : 1;
    const predicted = scores[i]! >= options.threshold;
    if (t > 0) predicted ? (c.tp += w) : (c.fn += w);
    else predicted ? (c.fp += w) : (c.tn += w);
  }
  return c;
}

/**
 * Matthews correlation coefficient
 * `(tp·tn − fp·fn) / √((tp+fp)(tp+fn)(tn+fp)(tn+fn))`, in `[−1, 1]`; 0 when a
 * factor of the denominator is 0 (scikit-learn's convention).
 */
export function mcc(c: Confusion): number {
  const den = (c.tp + c.fp) * (c.tp + c.fn) * (c.tn + c.fp) * (c.tn + c.fn);
  return den > 0 ? (c.tp * c.tn - c.fp * c.fn) / Math.sqrt(den) : 0;
}

/** F1 score `2tp / (2tp + fp + fn)`; 0 when there are no positives either way. */
export function f1(c: Confusion): number {
  const den = 2 * c.tp + c.fp + c.fn;
  return den > 0 ? (2 * c.tp) / den : 0;
}

/**
 * CheXzero's binary-prompt probability: softmax over the pair of logits
 * `scale·⟨image, positive prompt⟩` and `scale·⟨image, negative prompt⟩`, i.e.
 * `σ(scale · (pos − neg))`. At threshold ½ the decision is `pos ≥ neg` for any scale.
 *
 * @param positive Cosine similarity with the positive prompt ("{finding}").
 * @param negative Cosine similarity with the negative prompt ("no {finding}").
 * @param options `scale` multiplies both logits (CheXzero: 1, raw cosine).
 */
export function pairProbability(
  positive: number,
  negative: number,
  options: { scale?: number } = {},
): number {
  return 1 / (1 + Math.exp(-(options.scale ?? 1) * (positive - negative)));
}
