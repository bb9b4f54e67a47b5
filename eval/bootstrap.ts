/**
 * Seeded nonparametric bootstrap confidence intervals (percentile method).
 * A resample draws N of the N samples with replacement; statistics receive
 * the resample as per-sample multiplicities (`weights`, summing to N), so
 * the metrics in `classification.ts` evaluate it without copying data.
 *
 * @module
 */
import { Rng } from "../core/rng.ts";

/** Options of {@link bootstrapCI}. */
export interface BootstrapOptions {
  /** Number of resamples (default 1000). */
  resamples?: number;
  /** Seed of the resampling (default 0). */
  seed?: number;
  /** Coverage of the interval (default 0.95). */
  level?: number;
}

/** A bootstrap percentile interval. */
export interface Interval {
  /** Lower bound: the `(1 − level)/2` quantile of the resampled statistic. */
  low: number;
  /** Upper bound: the `(1 + level)/2` quantile. */
  high: number;
  /** Resamples whose statistic was finite (e.g. AUROC is undefined without positives). */
  valid: number;
}

/**
 * The `q` quantile of ascending-sorted `sorted`, interpolating linearly
 * between order statistics (NumPy's default `linear` method).
 */
export function quantile(sorted: ArrayLike<number>, q: number): number {
  if (sorted.length === 0) return NaN;
  const pos = q * (sorted.length - 1);
  const lo = Math.floor(pos), hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Multiplicities of one bootstrap resample: `n` draws from `n` samples with
 * replacement, using `rng.int(n)` (uniform in `[0, n)`, e.g. a seeded `Rng`).
 */
export function resampleWeights(n: number, rng: { int(n: number): number }): Float64Array {
  const w = new Float64Array(n);
  for (let i = 0; i < n; i++) w[rng.int(n)]! += 1;
  return w;
}

/** Checks the options; returns them with defaults. */
function settings(options: BootstrapOptions): Required<BootstrapOptions> {
  const { resamples = 1000, seed = 0, level = 0.95 } = options;
  if (!Number.isInteger(resamples) || resamples < 1) {
    throw new Error(
      `bootstrap: resamples must be a positive integer (e.g. 1000), got ${resamples}`,
    );
  }
  if (!(level > 0 && level < 1)) {
    throw new Error(`bootstrap: level must be in (0, 1) (e.g. 0.95), got ${level}`);
  }
  return { resamples, seed, level };
}

/**
 * Percentile bootstrap confidence interval of a statistic of `n` samples.
 *
 * @param n Number of samples (N ≥ 1).
 * @param statistics The statistic(s) of a resample given its per-sample
 *   multiplicities `[N]`: one number, or several (then one interval each, all
 *   from the same resamples — e.g. AUROC of every finding and their mean).
 * @returns One {@link Interval} per statistic (NaN bounds when no resample was finite).
 */
export function bootstrapCI(
  n: number,
  statistics: (weights: Float64Array) => number | number[],
  options: BootstrapOptions = {},
): Interval[] {
  const { resamples, seed, level } = settings(options);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(`bootstrap: needs at least one sample, got n = ${n}`);
  }
  const rng = new Rng(seed);
  const draws: number[][] = [];
  for (let r = 0; r < resamples; r++) {
    const value = statistics(resampleWeights(n, rng));
    const values = typeof value === "number" ? [value] : value;
    values.forEach((v, k) => {
      draws[k] ??= [];
      if (Number.isFinite(v)) draws[k]!.push(v);
    });
  }
  return draws.map((d) => {
    const sorted = Float64Array.from(d).sort();
    return {
      low: quantile(sorted, (1 - level) / 2),
      high: quantile(sorted, (1 + level) / 2),
      valid: sorted.length,
    };
  });
}
