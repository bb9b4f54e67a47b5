/**
 * The best-scoring classes of each row of a score matrix, best first: what a
 * zero-shot prediction reports per image.
 *
 * @module
 */
import type { Matrix } from "./linalg.ts";

/** One class of a prediction. */
export interface ClassScore {
  /** Class index (column of the scores). */
  index: number;
  /** Class name. */
  name: string;
  /** Its score (cosine similarity for zero-shot classification). */
  score: number;
}

/**
 * The `k` highest-scoring classes of every row, best first; equal scores
 * keep the lower class index first.
 *
 * @param scores `[N, C]` scores.
 * @param options Class names (`C` of them) and `k` (capped at `C`).
 */
export function topClasses(
  scores: Matrix,
  options: { names: readonly string[]; k: number },
): ClassScore[][] {
  const { names } = options;
  if (names.length !== scores.cols) {
    throw new Error(`topClasses: ${names.length} names for ${scores.cols} score columns`);
  }
  if (!Number.isInteger(options.k) || options.k < 1) {
    throw new Error(`topClasses: k is ${options.k}; expected an integer ≥ 1`);
  }
  const k = Math.min(options.k, scores.cols);
  const out: ClassScore[][] = [];
  for (let i = 0; i < scores.rows; i++) {
    const row = scores.data.subarray(i * scores.cols, (i + 1) * scores.cols);
    const order = [...row.keys()].sort((a, b) => row[b]! - row[a]! || a - b);
    out.push(order.slice(0, k).map((c) => ({ index: c, name: names[c]!, score: row[c]! })));
  }
  return out;
}
