/**
 * Every variant against a baseline variant, paired by seed (`deno task report
 * … --baseline <variant>`): per metric, the mean over the seeds both finished
 * of (variant − baseline), the sample std of those differences, and the
 * two-sided paired t-test's p-value (df = n − 1). Seeds pair because a seed
 * fixes initialisation and data order alike in both variants, so the paired
 * test removes the seed-to-seed spread the two share.
 *
 * @module
 */
import { metricValue } from "./collect.ts";
import { type CsvValue, toCsv } from "./csv.ts";
import { formatNumber, MISSING, styleFor } from "./format.ts";
import { percentColumns } from "./markdown.ts";
import { mean, sampleStd } from "./stats.ts";
import { studentTwoSided } from "./student_t.ts";
import type { SweepTable, TableRow } from "./table.ts";

/** A variant's differences from the baseline in one metric, over the seeds both finished. */
export interface PairedDelta {
  /** The seeds paired. */
  seeds: number[];
  /** Mean of (variant − baseline) over them (NaN with none). */
  mean: number;
  /** Sample std of the differences (NaN with fewer than two). */
  std: number;
  /** Two-sided paired t-test p-value (NaN with fewer than two seeds; 0 or 1 when std is 0). */
  p: number;
}

/**
 * Seed → the metric's value, over a row's finished members that reported it
 * (of several finished members with one seed, the last: see {@link repeatedSeeds}).
 */
function bySeed(row: TableRow, key: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of row.members) {
    if (m.state !== "done") continue;
    const v = metricValue(m.status?.eval, key);
    if (v !== undefined) out.set(m.member.seed, v);
  }
  return out;
}

/** The seeds several finished members of a row share (runs made by hand without `seed:`). */
export function repeatedSeeds(row: TableRow): number[] {
  const seen = new Set<number>(), repeated = new Set<number>();
  for (const m of row.members) {
    if (m.state !== "done") continue;
    if (seen.has(m.member.seed)) repeated.add(m.member.seed);
    seen.add(m.member.seed);
  }
  return [...repeated].sort((a, b) => a - b);
}

/**
 * `row` − `baseline` in metric `key`, paired by seed.
 *
 * @param row A variant's row.
 * @param baseline The baseline's row.
 * @param key The metric key (`zero_shot.top1`).
 */
export function pairedDelta(row: TableRow, baseline: TableRow, key: string): PairedDelta {
  const a = bySeed(row, key), b = bySeed(baseline, key);
  const seeds = [...a.keys()].filter((s) => b.has(s)).sort((x, y) => x - y);
  const d = seeds.map((s) => a.get(s)! - b.get(s)!);
  const m = mean(d), std = d.length >= 2 ? sampleStd(d) : NaN;
  let p = NaN;
  if (d.length >= 2) {
    p = std > 0 ? studentTwoSided(m / (std / Math.sqrt(d.length)), d.length - 1) : m === 0 ? 1 : 0;
  }
  return { seeds, mean: m, std, p };
}

/** The baseline's row, or an error listing the variants. */
export function baselineRow(table: SweepTable, variant: string): TableRow {
  const row = table.rows.find((r) => r.variant === variant);
  if (!row) {
    throw new Error(
      `--baseline ${variant}: no such variant; expected one of: ` +
        table.rows.map((r) => r.variant).join(", "),
    );
  }
  return row;
}

/** `+0.89 ± 0.30` at the metric's style (percentage points for a percent column). */
function formatDelta(delta: PairedDelta, percent: boolean): string {
  if (delta.seeds.length === 0) return MISSING;
  const style = styleFor({ mean: delta.mean, std: delta.std }, percent);
  const sign = delta.mean > 0 ? "+" : "";
  const m = `${sign}${formatNumber(delta.mean, style)}`;
  return delta.seeds.length < 2 ? m : `${m} ± ${formatNumber(delta.std, style)}`;
}

/** A p-value to three significant digits, `< 0.001` below. */
function formatP(p: number): string {
  if (!Number.isFinite(p)) return MISSING;
  return p < 0.001 ? "< 0.001" : Number(p.toPrecision(3)).toString();
}

/**
 * The comparison as Markdown: one row per other variant, per metric the
 * paired Δ ± std and its p-value, then a note on how they are computed.
 *
 * @param table The sweep table.
 * @param variant The baseline variant's name.
 */
export function comparisonMarkdown(table: SweepTable, variant: string): string {
  const baseline = baselineRow(table, variant);
  const percent = percentColumns(table);
  const header = ["variant"];
  table.metrics.forEach((metric, k) => {
    header.push(`Δ ${metric.label}${percent[k] ? " (pp)" : ""}`, "p", "n");
  });
  const lines = [header, header.map((_, i) => (i === 0 ? ":--" : "--:"))]
    .map((r) => `| ${r.join(" | ")} |`);
  for (const row of table.rows) {
    if (row === baseline) continue;
    const cells = [row.variant.replace(/\|/g, "\\|")];
    table.metrics.forEach((metric, k) => {
      const delta = pairedDelta(row, baseline, metric.key);
      cells.push(formatDelta(delta, percent[k]!), formatP(delta.p), String(delta.seeds.length));
    });
    lines.push(`| ${cells.join(" | ")} |`);
  }
  const repeated = table.rows.filter((r) => repeatedSeeds(r).length > 0)
    .map((r) => `${r.variant} (seed ${repeatedSeeds(r).join(", ")})`);
  return [
    `### Against ${variant}, paired by seed`,
    "",
    ...lines,
    "",
    ...(repeated.length > 0
      ? [
        `Several finished members share a seed in: ${repeated.join("; ")}; only the last of ` +
        "them is paired (give each run its own `seed:`).",
        "",
      ]
      : []),
    `Δ: mean over the seeds both finished of (variant − ${variant}) ± the sample std of those ` +
    "differences (pp: percentage points); p: two-sided paired t-test, df = n − 1 (" + MISSING +
    " with fewer than two pairs). With three seeds a p-value rests on two degrees of freedom: " +
    "read it with the spread, and more seeds before a claim.",
    "",
  ].join("\n");
}

/**
 * `comparison.csv`: one row per other variant; per metric `<key>_delta`,
 * `<key>_delta_std`, `<key>_p`, `<key>_n` (raw values, fractions not percent).
 */
export function comparisonCsv(table: SweepTable, variant: string): string {
  const baseline = baselineRow(table, variant);
  const header: CsvValue[] = ["variant", "baseline"];
  for (const m of table.metrics) {
    header.push(...["delta", "delta_std", "p", "n"].map((s) => `${m.key}_${s}`));
  }
  const rows = table.rows.filter((r) => r !== baseline).map((row) => {
    const out: CsvValue[] = [row.variant, variant];
    for (const m of table.metrics) {
      const d = pairedDelta(row, baseline, m.key);
      out.push(d.mean, d.std, d.p, d.seeds.length);
    }
    return out;
  });
  return toCsv([header, ...rows]);
}
