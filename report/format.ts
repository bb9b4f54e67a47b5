/**
 * Number formatting for the sweep table: accuracy-like metrics as percentages
 * with two decimals (`95.01 ± 0.14`), everything else to four significant
 * digits of the mean, with the std and CI at the same decimals so a column
 * lines up.
 *
 * @module
 */
import type { SweepMetric } from "./collect.ts";
import type { SeedSummary } from "./stats.ts";

/** Shown for a value that does not exist (no finished seed reported the metric; std of one seed). */
export const MISSING = "–";

const ACCURACY_KEY = /(top1|top5|top-1|top-5|accuracy)$/i;

/**
 * Whether a metric column is shown in percent: its key ends with `top1`,
 * `top5` or `accuracy` (or its label contains `%`) and every value is in `[0, 1]`.
 *
 * @param metric The column.
 * @param values Every value of the column (all seeds of all variants).
 */
export function isPercentMetric(metric: SweepMetric, values: readonly number[]): boolean {
  const looksLikeAccuracy = ACCURACY_KEY.test(metric.key) || metric.label.includes("%");
  return looksLikeAccuracy && values.every((v) => v >= 0 && v <= 1);
}

/** How a column's numbers are written: scale and decimals, or exponent notation. */
export interface NumberStyle {
  /** Factor applied before printing (100 for percentages). */
  scale: number;
  /** Digits after the decimal point; `undefined` for exponent notation. */
  decimals?: number;
}

/**
 * The style of a summary: two decimals in percent; otherwise four significant
 * digits of the mean (of the std when the mean is 0), exponent notation below
 * 0.001 or from 10⁶ on.
 */
export function styleFor(
  summary: Pick<SeedSummary, "mean" | "std">,
  percent: boolean,
): NumberStyle {
  if (percent) return { scale: 100, decimals: 2 };
  const ref = Math.abs(summary.mean) || (Number.isFinite(summary.std) ? Math.abs(summary.std) : 0);
  if (ref === 0) return { scale: 1, decimals: 0 };
  if (ref < 1e-3 || ref >= 1e6) return { scale: 1 };
  return { scale: 1, decimals: Math.max(0, 3 - Math.floor(Math.log10(ref))) };
}

/** One number in a style; {@link MISSING} for NaN. */
export function formatNumber(value: number, style: NumberStyle): string {
  if (!Number.isFinite(value)) return MISSING;
  const v = value * style.scale;
  const text = style.decimals === undefined ? v.toExponential(3) : v.toFixed(style.decimals);
  return text === "-0" || /^-0\.0*$/.test(text) ? text.slice(1) : text;
}

/** A quantity with no spread (minutes, images/s): three significant digits, integers from 100 on. */
export function formatQuantity(value: number | undefined): string {
  if (value === undefined || !Number.isFinite(value)) return MISSING;
  if (Math.abs(value) >= 100) return Math.round(value).toString();
  return Number(value.toPrecision(3)).toString();
}

/**
 * `mean ± std` of a summary (just the mean for one seed).
 *
 * @param summary The cell's summary.
 * @param percent Whether the column is in percent.
 */
export function formatMeanStd(summary: SeedSummary, percent: boolean): string {
  const style = styleFor(summary, percent);
  const m = formatNumber(summary.mean, style);
  return summary.n < 2 ? m : `${m} ± ${formatNumber(summary.std, style)}`;
}

/** `[low, high]` of a summary's CI at the cell's style; {@link MISSING} with fewer than two seeds. */
export function formatCI(summary: SeedSummary, percent: boolean): string {
  if (!(summary.n >= 2 && Number.isFinite(summary.ciLow))) return MISSING;
  const style = styleFor(summary, percent);
  return `[${formatNumber(summary.ciLow, style)}, ${formatNumber(summary.ciHigh, style)}]`;
}

/** A grid value as a table cell: strings as they are, anything else as JSON. */
export function formatFactor(value: unknown): string {
  if (value === undefined) return MISSING;
  return typeof value === "string" ? value : JSON.stringify(value);
}
