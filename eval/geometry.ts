/**
 * Geometry of an embedding space as plain functions of embedding matrices:
 * effective rank (RankMe), per-dimension spread, the modality gap, alignment
 * and uniformity, the SIGReg statistic, and prototype usage. These are the
 * quantities the alignment papers argue about (collapse, isotropy, the gap
 * between image and text cones).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { sigreg } from "../losses/sigreg.ts";
import {
  columnMeans,
  columnStds,
  type Matrix,
  normalizeRows,
  row,
  singularValues,
} from "./linalg.ts";

/**
 * Effective rank (RankMe; Garrido et al. 2023,
 * {@link https://arxiv.org/abs/2210.02885 | arXiv 2210.02885}): with singular
 * values σ of `z` `[N, D]` (not centred), `p_k = σ_k / Σσ + ε` and
 * `rank = exp(−Σ p_k log p_k)`, between 1 (collapse onto one direction) and
 * `min(N, D)` (all directions used equally).
 */
export function effectiveRank(z: Matrix, options: { eps?: number } = {}): number {
  const sv = singularValues(z);
  const total = sv.reduce((s, v) => s + v, 0);
  if (total === 0) return 0;
  const eps = options.eps ?? 1e-7;
  let entropy = 0;
  for (const s of sv) {
    const p = s / total + eps;
    entropy -= p * Math.log(p);
  }
  return Math.exp(entropy);
}

/**
 * Mean per-dimension standard deviation of the L2-normalised rows, times √D:
 * ≈ 1 for an isotropic embedding, → 0 at collapse (SimSiam's collapse monitor,
 * scaled to be independent of D).
 */
export function normalizedStd(z: Matrix): number {
  const stds = columnStds(normalizeRows(z));
  return (stds.reduce((s, v) => s + v, 0) / z.cols) * Math.sqrt(z.cols);
}

/**
 * Modality gap (Liang et al. 2022, {@link https://arxiv.org/abs/2203.02053 | arXiv 2203.02053}):
 * the Euclidean distance between the centroids of the L2-normalised image and
 * text embeddings, in `[0, 2]`.
 */
export function modalityGap(image: Matrix, text: Matrix): number {
  const a = columnMeans(normalizeRows(image)), b = columnMeans(normalizeRows(text));
  return Math.hypot(...a.map((v, i) => v - b[i]!));
}

/**
 * Alignment (Wang & Isola 2020, {@link https://arxiv.org/abs/2005.10242 | arXiv 2005.10242}):
 * `mean_i ‖x̂_i − ŷ_i‖^α` over positive pairs of L2-normalised rows (α = 2 by
 * default); 0 when paired embeddings coincide, 4 when opposite.
 */
export function alignment(x: Matrix, y: Matrix, options: { alpha?: number } = {}): number {
  if (x.rows !== y.rows || x.cols !== y.cols) {
    throw new Error(
      `alignment: pairs must have equal shapes, got [${x.rows}, ${x.cols}] and [${y.rows}, ${y.cols}]`,
    );
  }
  const alpha = options.alpha ?? 2;
  const [a, b] = [normalizeRows(x), normalizeRows(y)];
  let sum = 0;
  for (let i = 0; i < a.rows; i++) {
    let sq = 0;
    for (let j = 0; j < a.cols; j++) sq += (a.data[i * a.cols + j]! - b.data[i * a.cols + j]!) ** 2;
    sum += sq ** (alpha / 2);
  }
  return sum / a.rows;
}

/**
 * Uniformity (Wang & Isola 2020): `log mean_{i<j} exp(−t‖x̂_i − x̂_j‖²)` over
 * L2-normalised rows (t = 2 by default); 0 at collapse, more negative the more
 * uniformly the points cover the sphere (≥ −4t since ‖x̂_i − x̂_j‖² ≤ 4). Needs N ≥ 2.
 */
export function uniformity(x: Matrix, options: { t?: number } = {}): number {
  if (x.rows < 2) throw new Error(`uniformity needs at least 2 embeddings, got ${x.rows}`);
  const t = options.t ?? 2;
  const a = normalizeRows(x);
  // log-sum-exp over pairs for stability: terms are exp(−t·d²) with d² = 2 − 2⟨x̂_i, x̂_j⟩.
  const logs: number[] = [];
  let max = -Infinity;
  for (let i = 0; i < a.rows; i++) {
    const ri = row(a, i);
    for (let j = i + 1; j < a.rows; j++) {
      const rj = row(a, j);
      let d2 = 0;
      for (let k = 0; k < a.cols; k++) d2 += (ri[k]! - rj[k]!) ** 2;
      logs.push(-t * d2);
      if (-t * d2 > max) max = -t * d2;
    }
  }
  const sum = logs.reduce((s, l) => s + Math.exp(l - max), 0);
  return max + Math.log(sum / logs.length);
}

/**
 * The SIGReg statistic (LeJEPA) of `z` `[N, K]` as a number: ≈ 1 for a healthy
 * isotropic Gaussian embedding, ≈ 0.4·N at collapse. Fixed directions (`seed`)
 * make successive measurements comparable.
 */
export async function sigregStatistic(
  z: Matrix,
  options: { slices?: number; seed?: number } = {},
): Promise<number> {
  const x = tf.tensor2d(Float32Array.from(z.data), [z.rows, z.cols]);
  const stat = sigreg(x, { slices: options.slices ?? 256, seed: options.seed ?? 0 });
  try {
    return (await stat.data())[0]!;
  } finally {
    tf.dispose([x, stat]);
  }
}

/** How the prototypes of a prototype head (nCLIP) are used. */
export interface PrototypeUsage {
  /** Fraction of prototypes that are the argmax of at least one sample. */
  used: number;
  /** Number of prototypes that are the argmax of at least one sample (`used · K`). */
  count: number;
  /** `exp(H(mean_i p_i)) / K`: 1 when the batch spreads evenly, 1/K when it sits on one prototype. */
  perplexity: number;
}

/**
 * Prototype usage of logits `[N, K]` turned into distributions `softmax(logits / temperature)`.
 */
export function prototypeUsage(
  logits: Matrix,
  options: { temperature?: number } = {},
): PrototypeUsage {
  const temp = options.temperature ?? 0.1;
  const k = logits.cols;
  const mean = new Float64Array(k), hit = new Uint8Array(k);
  for (let i = 0; i < logits.rows; i++) {
    const r = row(logits, i);
    let best = 0;
    for (let c = 1; c < k; c++) if (r[c]! > r[best]!) best = c;
    hit[best] = 1;
    const e = Array.from(r, (v) => Math.exp((v - r[best]!) / temp));
    const sum = e.reduce((s, v) => s + v, 0);
    e.forEach((v, c) => (mean[c]! += v / sum / logits.rows));
  }
  const entropy = -mean.reduce((s, p) => s + (p > 0 ? p * Math.log(p) : 0), 0);
  const count = hit.reduce((s, h) => s + h, 0);
  return { used: count / k, count, perplexity: Math.exp(entropy) / k };
}
