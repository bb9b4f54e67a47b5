/**
 * Plots of a run as Vega-Lite specifications, rendered to standalone SVG in
 * Deno (Vega-Lite → Vega → headless `View` with renderer `"none"` → `toSVG()`;
 * no browser, no CDN): training curves, metric curves, per-class / per-finding
 * bars and a 2-D PCA projection of image and text embeddings.
 *
 * @module
 */
import * as vega from "vega";
import * as vl from "vega-lite";
import type { Metrics } from "../core/components.ts";

/** A Vega-Lite specification (JSON). */
export type PlotSpec = Record<string, unknown>;

/** One point of a curve in long form. */
export interface CurvePoint {
  /** Optimiser step. */
  step: number;
  /** Name of the curve. */
  series: string;
  /** Its value. */
  value: number;
}

/** One projected embedding. */
export interface ProjectedPoint {
  /** First principal component. */
  pc1: number;
  /** Second principal component. */
  pc2: number;
  /** `"image"` or `"text"`. */
  modality: string;
  /** Class name (or `"unlabelled"`). */
  class: string;
}

const SCHEMA = "https://vega.github.io/schema/vega-lite/v6.json";

/**
 * Renders a Vega-Lite specification to an SVG document (string).
 *
 * @param spec Vega-Lite JSON (data inlined as `values`).
 * @returns `<svg …>…</svg>`.
 */
export async function renderSvg(spec: PlotSpec): Promise<string> {
  const compiled = vl.compile({ $schema: SCHEMA, ...spec } as vl.TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: "none" });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

/**
 * Small multiples of curves over steps: one panel per series, each with its
 * own y scale (loss terms and learning rates differ by orders of magnitude).
 */
export function curvesSpec(points: CurvePoint[], options: { title: string }): PlotSpec {
  return {
    title: options.title,
    data: { values: points },
    facet: {
      row: {
        field: "series",
        type: "nominal",
        title: null,
        header: { labelAngle: 0, labelAlign: "left" },
      },
    },
    spec: {
      width: 520,
      height: 110,
      mark: { type: "line", point: points.length < 60 },
      encoding: {
        x: { field: "step", type: "quantitative", title: "step" },
        y: { field: "value", type: "quantitative", title: null, scale: { zero: false } },
        color: { field: "series", type: "nominal", legend: null },
      },
    },
    resolve: { scale: { y: "independent" } },
  };
}

/**
 * Bars of one metric per item (class or finding), with bootstrap CI whiskers
 * when `low`/`high` are given.
 */
export function barsSpec(
  rows: { item: string; value: number; low?: number; high?: number }[],
  options: { title: string; metric: string },
): PlotSpec {
  const layers: PlotSpec[] = [{
    mark: "bar",
    encoding: {
      x: { field: "value", type: "quantitative", title: options.metric, scale: { domain: [0, 1] } },
      y: { field: "item", type: "nominal", sort: null, title: null },
    },
  }];
  if (rows.some((r) => r.low !== undefined)) {
    layers.push({
      mark: { type: "rule", color: "black" },
      encoding: {
        x: { field: "low", type: "quantitative" },
        x2: { field: "high" },
        y: { field: "item", type: "nominal", sort: null },
      },
    });
  }
  return { title: options.title, width: 360, data: { values: rows }, layer: layers };
}

/**
 * Two panels of the same 2-D projection: coloured by modality, and coloured
 * by class with the modality as the point shape.
 */
export function embeddingSpec(
  points: ProjectedPoint[],
  options: { title: string; classes?: string[] },
): PlotSpec {
  const x = { field: "pc1", type: "quantitative", title: "PC 1", scale: { zero: false } };
  const y = { field: "pc2", type: "quantitative", title: "PC 2", scale: { zero: false } };
  const panel = (title: string, encoding: PlotSpec): PlotSpec => ({
    title,
    width: 340,
    height: 340,
    mark: { type: "point", filled: true, size: 22, opacity: 0.65 },
    encoding: { x, y, ...encoding },
  });
  return {
    title: options.title,
    data: { values: points },
    hconcat: [
      panel("by modality", { color: { field: "modality", type: "nominal", title: "modality" } }),
      panel("by class (shape: modality)", {
        color: {
          field: "class",
          type: "nominal",
          title: "class",
          sort: options.classes ?? "ascending",
        },
        shape: { field: "modality", type: "nominal", title: "modality" },
      }),
    ],
    resolve: { scale: { color: "independent" } },
  };
}

/** Flattens nested numeric fields: `{terms: {a: 1}}` → `{"terms.a": 1}`. */
function flatten(record: Record<string, unknown>, prefix = ""): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(record)) {
    if (typeof v === "number" && Number.isFinite(v)) out[prefix + k] = v;
    else if (v && typeof v === "object" && !Array.isArray(v)) {
      Object.assign(out, flatten(v as Record<string, unknown>, `${prefix}${k}.`));
    }
  }
  return out;
}

/** Fields of `metrics.jsonl` that are not curves worth plotting. */
const SKIPPED = new Set(["step", "ms", "data_ms"]);

/**
 * Splits `metrics.jsonl` records into loss curves (`loss` and each `terms.*`)
 * and other curves (learning rate, gradient norm, throughput, diagnostics …).
 */
export function curvesFromRecords(
  records: Record<string, unknown>[],
): { losses: CurvePoint[]; others: CurvePoint[] } {
  const losses: CurvePoint[] = [], others: CurvePoint[] = [];
  for (const record of records) {
    if (typeof record.step !== "number") continue;
    for (const [key, value] of Object.entries(flatten(record))) {
      if (SKIPPED.has(key)) continue;
      const point = { step: record.step, value };
      if (key === "loss") losses.push({ ...point, series: "loss (weighted total)" });
      else if (key.startsWith("terms.")) losses.push({ ...point, series: key.slice(6) });
      else others.push({ ...point, series: key });
    }
  }
  return { losses, others };
}

/**
 * Groups `<metric>/<item>` keys of one evaluator's results into bar rows, with
 * `<metric>_ci_low/<item>` and `<metric>_ci_high/<item>` as whiskers.
 * Only `acc` and `auroc` groups (per-class accuracy, per-finding AUROC).
 */
export function barGroups(
  metrics: Metrics,
): Map<string, { item: string; value: number; low?: number; high?: number }[]> {
  const groups = new Map<string, { item: string; value: number; low?: number; high?: number }[]>();
  for (const [key, value] of Object.entries(metrics)) {
    const slash = key.indexOf("/");
    const metric = key.slice(0, slash), item = key.slice(slash + 1);
    if (slash < 0 || !["acc", "auroc"].includes(metric)) continue;
    const low = metrics[`${metric}_ci_low/${item}`], high = metrics[`${metric}_ci_high/${item}`];
    const row = low !== undefined && high !== undefined
      ? { item, value, low, high }
      : { item, value };
    groups.set(metric, [...(groups.get(metric) ?? []), row]);
  }
  return groups;
}
