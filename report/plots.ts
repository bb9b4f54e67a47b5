/**
 * Plots of a sweep as Vega-Lite specifications (rendered to SVG with
 * `renderSvg` from `eval/plots.ts`): per grid factor and metric, the metric
 * against the factor value with every seed as a point and the mean as a line
 * (one line per recipe / toggle / other factors); per metric, the seed spread
 * of every variant — each seed a point, the mean a tick, mean ± std a bar —
 * which is where run-to-run consistency shows.
 *
 * @module
 */
import { metricValue, type SweepMetric, type SweepResults } from "./collect.ts";
import { isPercentMetric } from "./format.ts";
import type { SweepTable } from "./table.ts";

/** One plot of the report. */
export interface SweepPlot {
  /** File stem (`<stem>.svg`), safe as a file name. */
  stem: string;
  /** Title, also the image's alt text. */
  title: string;
  /** Vega-Lite specification with its data inlined (JSON). */
  spec: Record<string, unknown>;
}

/** A finished seed's value with what identifies it. */
interface SeedPoint {
  variant: string;
  series: string;
  recipe: string;
  seed: number;
  value: number;
  x?: unknown;
}

/** A grid value as text: strings as they are, anything else as JSON. */
const asText = (v: unknown) => (typeof v === "string" ? v : JSON.stringify(v));

const safe = (s: string) => s.replace(/[^\w.=+,-]+/g, "_");

/** Percent flag and scale of a metric, from every finished value. */
function scaleOf(metric: SweepMetric, results: SweepResults): { scale: number; unit: string } {
  const values = results.members.filter((m) => m.state === "done")
    .map((m) => metricValue(m.status?.eval, metric.key))
    .filter((v): v is number => v !== undefined);
  return isPercentMetric(metric, values) ? { scale: 100, unit: " (%)" } : { scale: 1, unit: "" };
}

/** The series a member belongs to in a factor plot: recipe, toggle and the other factors. */
function seriesName(results: SweepResults, index: number, factor: string): string {
  const m = results.members[index]!.member;
  const others = results.manifest.factors.filter((f) => f !== factor)
    .map((f) => `${f.split(".").at(-1)}=${asText(m.grid[f])}`);
  return [m.recipe + (m.toggle ? `+${m.toggle}` : ""), ...others].join(", ");
}

/** Every finished seed's value of `metric` (scaled), with factor value `x` when `factor` is given. */
function seedPoints(results: SweepResults, metric: SweepMetric, factor?: string): SeedPoint[] {
  const { scale } = scaleOf(metric, results);
  const points: SeedPoint[] = [];
  results.members.forEach((r, i) => {
    const value = r.state === "done" ? metricValue(r.status?.eval, metric.key) : undefined;
    if (value === undefined) return;
    const point: SeedPoint = {
      variant: r.member.variant,
      series: factor ? seriesName(results, i, factor) : r.member.recipe,
      recipe: r.member.recipe,
      seed: r.member.seed,
      value: value * scale,
    };
    if (factor) point.x = r.member.grid[factor];
    points.push(point);
  });
  return points;
}

/** Metric against one grid factor: per-seed points and a mean line per series. */
export function factorPlot(
  results: SweepResults,
  metric: SweepMetric,
  factor: string,
): SweepPlot | undefined {
  let points = seedPoints(results, metric, factor);
  if (!points.length) return undefined;
  const numeric = points.every((p) => typeof p.x === "number");
  if (!numeric) points = points.map((p) => ({ ...p, x: asText(p.x) }));
  const order = [...new Set(results.members.map((r) => asText(r.member.grid[factor])))];
  const x = numeric
    ? {
      field: "x",
      type: "quantitative",
      title: factor,
      scale: { zero: false, padding: 12 },
      axis: order.length <= 12 ? { values: [...new Set(points.map((p) => p.x))] } : {},
    }
    : { field: "x", type: "ordinal", title: factor, sort: order };
  const { unit } = scaleOf(metric, results);
  const y = {
    field: "value",
    type: "quantitative",
    title: metric.label + unit,
    scale: { zero: false, padding: 8 },
  };
  const color = { field: "series", type: "nominal", title: null };
  const title = `${metric.label} vs ${factor}`;
  return {
    stem: safe(`${metric.key}_vs_${factor}`),
    title,
    spec: {
      title,
      width: 360,
      height: 240,
      data: { values: points },
      layer: [
        {
          mark: { type: "point", filled: true, opacity: 0.6, size: 40 },
          encoding: { x, y, color, tooltip: [{ field: "variant" }, { field: "seed" }] },
        },
        {
          mark: { type: "line", point: false },
          encoding: { x, y: { ...y, aggregate: "mean" }, color },
        },
      ],
    },
  };
}

/** Per variant with a summary of metric column `k`: its mean and mean ± std, scaled. */
function variantSummaries(
  table: SweepTable,
  k: number,
  scale: number,
  labelOf: Map<string, string>,
): { label?: string; recipe: string; mean: number; low: number; high: number }[] {
  return table.rows.flatMap((r) => {
    const s = r.cells[k]?.summary;
    if (!s) return [];
    const std = Number.isFinite(s.std) ? s.std : 0;
    return [{
      label: labelOf.get(r.variant),
      recipe: r.recipe,
      mean: s.mean * scale,
      low: (s.mean - std) * scale,
      high: (s.mean + std) * scale,
    }];
  });
}

/** Seed spread of one metric per variant: seeds as points, mean as a tick, mean ± std as a bar. */
export function spreadPlot(
  results: SweepResults,
  table: SweepTable,
  metric: SweepMetric,
): SweepPlot | undefined {
  const k = table.metrics.indexOf(metric);
  const { scale, unit } = scaleOf(metric, results);
  const labelOf = new Map(table.rows.map((r) => [r.variant, `${r.variant} [${r.status}]`]));
  const points = seedPoints(results, metric).map((p) => ({ ...p, label: labelOf.get(p.variant) }));
  if (!points.length) return undefined;
  const labels = table.rows.map((r) => labelOf.get(r.variant)!);
  const summaries = variantSummaries(table, k, scale, labelOf);
  const y = {
    field: "label",
    type: "nominal",
    title: null,
    sort: labels,
    scale: { domain: labels },
    axis: { labelLimit: 0 },
  };
  const value = {
    type: "quantitative",
    title: metric.label + unit,
    scale: { zero: false, padding: 8 },
  };
  // A legend only helps when some recipe has several variants.
  const recipes = new Set(table.rows.map((r) => r.recipe)).size;
  const legend = recipes > 1 && recipes < table.rows.length ? {} : null;
  const color = { field: "recipe", type: "nominal", legend };
  const title = `${metric.label}: seed spread per variant`;
  return {
    stem: safe(`${metric.key}_seeds`),
    title,
    spec: {
      title,
      width: 360,
      height: { step: 24 },
      layer: [
        {
          data: { values: summaries },
          mark: { type: "rule", strokeWidth: 2, opacity: 0.5 },
          encoding: { x: { field: "low", ...value }, x2: { field: "high" }, y, color },
        },
        {
          data: { values: summaries },
          mark: { type: "tick", thickness: 2, size: 16 },
          encoding: { x: { field: "mean", ...value }, y, color },
        },
        {
          data: { values: points },
          mark: { type: "point", filled: true, opacity: 0.6, size: 40 },
          encoding: {
            x: { field: "value", ...value },
            y,
            color,
            tooltip: [{ field: "variant" }, { field: "seed" }, { field: "value" }],
          },
        },
      ],
    },
  };
}

/**
 * Every plot of the report, in order: per metric its seed spread, then per
 * grid factor and metric the metric against the factor. Plots without data
 * are skipped (no factors: no factor plots).
 */
export function sweepPlots(results: SweepResults, table: SweepTable): SweepPlot[] {
  const plots: (SweepPlot | undefined)[] = [];
  for (const metric of table.metrics) plots.push(spreadPlot(results, table, metric));
  for (const factor of table.factors) {
    for (const metric of table.metrics) plots.push(factorPlot(results, metric, factor));
  }
  return plots.filter((p): p is SweepPlot => p !== undefined);
}
