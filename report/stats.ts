/**
 * Summary statistics of one metric over the seeds of a variant: mean, sample
 * standard deviation and a seeded percentile bootstrap confidence interval of
 * the mean (via `eval/bootstrap.ts`, so the numbers are reproducible).
 *
 * @module
 */
import { bootstrapCI } from "../eval/bootstrap.ts";

/** Mean, spread and CI of a metric over seeds. */
export interface SeedSummary {
  /** Number of values (seeds that finished and reported the metric). */
  n: number;
  /** Arithmetic mean (NaN when `n` = 0). */
  mean: number;
  /** Sample standard deviation, divisor `n − 1` (NaN when `n` < 2). */
  std: number;
  /** Lower bound of the bootstrap CI of the mean (NaN when `n` < 2). */
  ciLow: number;
  /** Upper bound of the bootstrap CI of the mean (NaN when `n` < 2). */
  ciHigh: number;
  /** The values, in seed order. */
  values: number[];
}

/** Options of {@link summarizeSeeds}. */
export interface SummaryOptions {
  /** Bootstrap resamples (default 10 000: cheap for a handful of seeds). */
  resamples?: number;
  /** Bootstrap seed (default 0: the same values always give the same interval). */
  seed?: number;
  /** Coverage (default 0.95). */
  level?: number;
}

/** Arithmetic mean (NaN for no values). */
export function mean(values: readonly number[]): number {
  if (values.length === 0) return NaN;
  let sum = 0;
  for (const v of values) sum += v;
  return sum / values.length;
}

/** Sample standard deviation with divisor `n − 1` (two-pass; NaN for fewer than 2 values). */
export function sampleStd(values: readonly number[]): number {
  if (values.length < 2) return NaN;
  const m = mean(values);
  let ss = 0;
  for (const v of values) ss += (v - m) ** 2;
  return Math.sqrt(ss / (values.length - 1));
}

/**
 * Summarises a metric over seeds: mean, sample std and the percentile
 * bootstrap CI of the mean (resampling seeds with replacement).
 *
 * With a handful of seeds the interval is coarse and lies within the range of
 * the values; it describes the seeds at hand rather than promising coverage.
 *
 * @param values Finite values, one per finished seed.
 */
export function summarizeSeeds(
  values: readonly number[],
  options: SummaryOptions = {},
): SeedSummary {
  const n = values.length;
  for (const v of values) {
    if (!Number.isFinite(v)) throw new Error(`summarizeSeeds: expected finite values, got ${v}`);
  }
  const summary = { n, mean: mean(values), std: sampleStd(values), values: [...values] };
  if (n < 2) return { ...summary, ciLow: NaN, ciHigh: NaN };
  const [ci] = bootstrapCI(n, (weights) => {
    let sum = 0;
    for (let i = 0; i < n; i++) sum += weights[i]! * values[i]!;
    return sum / n;
  }, { resamples: options.resamples ?? 10_000, seed: options.seed ?? 0, level: options.level });
  return { ...summary, ciLow: ci!.low, ciHigh: ci!.high };
}
