/**
 * The sweep table as data: one row per variant with, per metric, the mean ±
 * sample std over the seeds that finished, the bootstrap CI and whether it is
 * the best value of its column; plus throughput, wall time and a status that
 * says how many seeds finished and what became of the others. Failed and
 * unfinished members are counted, never averaged.
 *
 * @module
 */
import {
  type Better,
  type MemberOutcome,
  type MemberResult,
  metricValue,
  type SweepMetric,
  type SweepResults,
} from "./collect.ts";
import { mean, type SeedSummary, summarizeSeeds, type SummaryOptions } from "./stats.ts";

/** Members of a variant by state. */
export type StateCounts = Record<MemberOutcome, number> & { total: number };

/** One metric cell. */
export interface MetricCell {
  /** Mean, std, CI and values over the seeds that finished and reported the metric. */
  summary: SeedSummary;
  /** Best mean of its column (ties all marked; only with two or more variants). */
  best: boolean;
}

/** One variant's row. */
export interface TableRow {
  /** Variant name. */
  variant: string;
  /** Recipe label. */
  recipe: string;
  /** Toggle name, or `null` for the baseline. */
  toggle: string | null;
  /** Grid factor → value. */
  grid: Record<string, unknown>;
  /** One cell per metric, in column order; `undefined` when no finished seed reported it. */
  cells: (MetricCell | undefined)[];
  /** Mean wall time per finished member in minutes (`undefined` when none recorded). */
  minutes?: number;
  /** Mean training images/s of the finished members. */
  imagesPerSecond?: number;
  /** Members by state. */
  counts: StateCounts;
  /** `"3/3"`, `"2/3 (1 failed)"`, `"1/3 (2 not run)"`. */
  status: string;
  /** The members, in seed order. */
  members: MemberResult[];
}

/** The whole table. */
export interface SweepTable {
  /** Sweep name. */
  name: string;
  /** Metric columns. */
  metrics: SweepMetric[];
  /** Grid factor keys (columns), in file order. */
  factors: string[];
  /** Whether the sweep has toggles (then a toggle column). */
  toggles: boolean;
  /** One row per variant, in sweep order. */
  rows: TableRow[];
  /** The bootstrap settings used for the CIs. */
  bootstrap: Required<SummaryOptions>;
}

const STATES: MemberOutcome[] = ["done", "failed", "running", "not run", "unreadable"];

/** Counts members by state. */
export function countStates(members: MemberResult[]): StateCounts {
  const counts = { total: members.length } as StateCounts;
  for (const s of STATES) counts[s] = 0;
  for (const m of members) counts[m.state]++;
  return counts;
}

/** `"3/3"`, or `"2/3 (1 failed)"`, `"1/4 (1 failed, 1 running, 1 not run)"`. */
export function statusText(counts: StateCounts): string {
  const others = STATES.filter((s) => s !== "done" && counts[s] > 0).map((s) =>
    `${counts[s]} ${s}`
  );
  return `${counts.done}/${counts.total}` + (others.length ? ` (${others.join(", ")})` : "");
}

/** Whether mean `a` is better than `b` in direction `better`. */
const beats = (a: number, b: number, better: Better) => (better === "lower" ? a < b : a > b);

/** Equal up to floating-point noise (the same seeds summed in another order). */
const tied = (a: number, b: number) =>
  Math.abs(a - b) <= 1e-12 * Math.max(1, Math.abs(a), Math.abs(b));

/** Marks the best mean of each metric column (ties all marked), if two or more variants have it. */
export function markBest(rows: TableRow[], metrics: SweepMetric[]): void {
  metrics.forEach((metric, k) => {
    const cells = rows.map((r) => r.cells[k]).filter((c): c is MetricCell => c !== undefined);
    if (cells.length < 2) return;
    let best = cells[0]!.summary.mean;
    for (const c of cells) if (beats(c.summary.mean, best, metric.better)) best = c.summary.mean;
    for (const c of cells) c.best = tied(c.summary.mean, best);
  });
}

/** The finite values of `key` reported by the finished members. */
export function finishedValues(members: MemberResult[], key: string): number[] {
  return members.filter((m) => m.state === "done")
    .map((m) => metricValue(m.status?.eval, key))
    .filter((v): v is number => v !== undefined);
}

/** Mean of a status number over finished members that recorded it. */
function meanOf(members: MemberResult[], pick: (m: MemberResult) => number | undefined) {
  const values = members.filter((m) => m.state === "done").map(pick)
    .filter((v): v is number => typeof v === "number" && Number.isFinite(v));
  return values.length ? mean(values) : undefined;
}

/**
 * Builds the table from collected results.
 *
 * @param results What `collectSweep` read.
 * @param options Bootstrap settings (default: 10 000 resamples, seed 0, 95 %).
 */
export function buildTable(results: SweepResults, options: SummaryOptions = {}): SweepTable {
  const { manifest } = results;
  const bootstrap = {
    resamples: options.resamples ?? 10_000,
    seed: options.seed ?? 0,
    level: options.level ?? 0.95,
  };
  const rows = results.variants.map((group): TableRow => {
    const cells = manifest.metrics.map((metric) => {
      const values = finishedValues(group.members, metric.key);
      return values.length
        ? { summary: summarizeSeeds(values, bootstrap), best: false }
        : undefined;
    });
    const counts = countStates(group.members);
    const row: TableRow = {
      variant: group.variant,
      recipe: group.recipe,
      toggle: group.toggle,
      grid: group.grid,
      cells,
      counts,
      status: statusText(counts),
      members: group.members,
    };
    const wall = meanOf(group.members, (m) => m.status?.wall_s);
    if (wall !== undefined) row.minutes = wall / 60;
    const speed = meanOf(group.members, (m) => m.status?.images_per_s);
    if (speed !== undefined) row.imagesPerSecond = speed;
    return row;
  });
  markBest(rows, manifest.metrics);
  return {
    name: manifest.name,
    metrics: manifest.metrics,
    factors: manifest.factors,
    toggles: Object.keys(manifest.toggles).length > 0 ||
      results.members.some((m) => m.member.toggle !== null),
    rows,
    bootstrap,
  };
}
