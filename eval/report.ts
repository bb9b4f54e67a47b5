/**
 * The run report: `report.html` with loss and metric curves, the evaluation
 * tables and a 2-D PCA projection of image and text embeddings (coloured by
 * modality and by class), plus every plot as a standalone SVG in `plots/`.
 * The page is self-contained: the SVGs are inlined, nothing is fetched.
 *
 * @module
 */
import type { Metrics } from "../core/components.ts";
import { writeFileAtomic } from "../core/atomic.ts";
import { type Matrix, matrixFromRows, normalizeRows, pca } from "./linalg.ts";
import { stackRows } from "./features.ts";
import {
  barGroups,
  barsSpec,
  curvesFromRecords,
  curvesSpec,
  embeddingSpec,
  type PlotSpec,
  type ProjectedPoint,
  renderSvg,
} from "./plots.ts";

/** Embeddings to project: paired image and text rows with class labels. */
export interface ReportEmbeddings {
  /** Image embeddings `[N, D]`. */
  image: Matrix | number[][];
  /** Text embeddings `[N, D]` (same D). */
  text: Matrix | number[][];
  /** Class label per sample (`-1` unlabelled). */
  labels: ArrayLike<number>;
  /** Class names by label (default: the label numbers). */
  classNames?: string[];
}

/** What a report shows. */
export interface ReportInput {
  /** Records of `metrics.jsonl` (`step`, `loss`, `terms`, `lr`, …, `diagnostics`). */
  metrics: Record<string, unknown>[];
  /** Evaluation results: evaluator name → metrics. */
  eval: Record<string, Metrics>;
  /** Embeddings for the PCA projection (optional). */
  embeddings?: ReportEmbeddings;
  /** Page title (default: the run directory's name). */
  title?: string;
}

/** Files written by {@link writeReport}. */
export interface ReportFiles {
  /** Path of `report.html`. */
  html: string;
  /** Paths of the standalone SVG plots. */
  svgs: string[];
}

const asMatrix = (m: Matrix | number[][]): Matrix => (Array.isArray(m) ? matrixFromRows(m) : m);

/**
 * Joint PCA of L2-normalised image and text embeddings (one basis for both,
 * so the modality gap shows as a shift between the two clouds).
 *
 * @returns Points (images first, then texts) and the explained variance of the two components.
 */
export function projectEmbeddings(
  e: ReportEmbeddings,
): { points: ProjectedPoint[]; explained: number[] } {
  const image = normalizeRows(asMatrix(e.image)), text = normalizeRows(asMatrix(e.text));
  if (image.cols !== text.cols) {
    throw new Error(
      `report: image embeddings are ${image.cols}-d but text embeddings ${text.cols}-d`,
    );
  }
  const { points, explained } = pca(stackRows([image, text]));
  const name = (i: number) => {
    const label = e.labels[i % image.rows] ?? -1;
    return label < 0 ? "unlabelled" : e.classNames?.[label] ?? String(label);
  };
  const out = Array.from({ length: points.rows }, (_, i) => ({
    pc1: points.data[i * 2]!,
    pc2: points.data[i * 2 + 1] ?? 0,
    modality: i < image.rows ? "image" : "text",
    class: name(i),
  }));
  return { points: out, explained };
}

const escape = (s: string): string =>
  s.replace(
    /[&<>"']/g,
    (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]!,
  );

/** A number for a table: integers as they are, others to 4 significant digits (no trailing zeros). */
function format(v: number): string {
  return Number.isInteger(v)
    ? String(v)
    : Math.abs(v) >= 1e4 || Math.abs(v) < 1e-3
    ? v.toExponential(3)
    : String(Number(v.toPrecision(4)));
}

/**
 * HTML tables of one evaluator's metrics: plain keys in one two-column table,
 * `<metric>/<item>` keys pivoted into an item × metric table.
 */
export function metricTables(name: string, metrics: Metrics): string {
  const plain = Object.entries(metrics).filter(([k]) => !k.includes("/"));
  const items = new Map<string, Map<string, number>>(), columns = new Set<string>();
  for (const [k, v] of Object.entries(metrics)) {
    const slash = k.indexOf("/");
    if (slash < 0) continue;
    const [col, item] = [k.slice(0, slash), k.slice(slash + 1)];
    columns.add(col);
    items.set(item, (items.get(item) ?? new Map()).set(col, v));
  }
  let html = `<h3>${escape(name)}</h3><table class="kv"><tr><th>metric</th><th>value</th></tr>` +
    plain.map(([k, v]) => `<tr><td>${escape(k)}</td><td>${format(v)}</td></tr>`).join("") +
    "</table>";
  if (items.size) {
    const cols = [...columns];
    html += `<table class="pivot"><tr><th></th>${
      cols.map((c) => `<th>${escape(c)}</th>`).join("")
    }</tr>` +
      [...items].map(([item, row]) =>
        `<tr><td>${escape(item)}</td>${
          cols.map((c) =>
            `<td>${row.has(c) ? format(row.get(c)!) : ""}</td>`
          ).join("")
        }</tr>`
      ).join("") + "</table>";
  }
  return html;
}

/** A plot of the report: file stem, page section, specification, optional caption. */
interface Plot {
  stem: string;
  section: "curves" | "eval" | "embeddings";
  spec: PlotSpec;
  note?: string;
}

/** The embedding projection plot. */
function embeddingPlot(embeddings: ReportEmbeddings): Plot {
  const { points, explained } = projectEmbeddings(embeddings);
  const shares = explained.map((e) => (100 * e).toFixed(1) + "%").join(", ");
  return {
    stem: "embeddings",
    section: "embeddings",
    spec: embeddingSpec(points, { title: "embeddings (PCA)", classes: embeddings.classNames }),
    note: `PCA of L2-normalised embeddings; explained variance ${shares}`,
  };
}

/** The plots of a report, in page order. */
function plotSpecs(input: ReportInput): Plot[] {
  const plots: Plot[] = [];
  const { losses, others } = curvesFromRecords(input.metrics);
  if (losses.length) {
    plots.push({ stem: "loss", section: "curves", spec: curvesSpec(losses, { title: "loss" }) });
  }
  if (others.length) {
    const spec = curvesSpec(others, { title: "training metrics" });
    plots.push({ stem: "metrics", section: "curves", spec });
  }
  for (const [evaluator, metrics] of Object.entries(input.eval)) {
    for (const [metric, rows] of barGroups(metrics)) {
      const spec = barsSpec(rows, { title: `${evaluator}: ${metric}`, metric });
      plots.push({ stem: `${evaluator}_${metric}`, section: "eval", spec });
    }
  }
  if (input.embeddings) plots.push(embeddingPlot(input.embeddings));
  return plots;
}

const STYLE = `body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}
table{border-collapse:collapse;margin:.5em 1.5em 1em 0;display:inline-table;vertical-align:top}
td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}
figure{margin:1em 0}figcaption{color:#666;font-size:.9em}.empty{color:#888}`;

/**
 * Writes `report.html` and `plots/*.svg` into `runDir` (atomically).
 *
 * @param runDir The run directory.
 * @param input Metric records, evaluation results and optional embeddings.
 * @returns The paths written.
 */
export async function writeReport(runDir: string, input: ReportInput): Promise<ReportFiles> {
  await Deno.mkdir(`${runDir}/plots`, { recursive: true });
  const sections: Record<string, string[]> = { curves: [], eval: [], embeddings: [] };
  const svgs: string[] = [];
  for (const plot of plotSpecs(input)) {
    const svg = await renderSvg(plot.spec);
    const path = `${runDir}/plots/${plot.stem.replace(/[^\w.-]+/g, "_")}.svg`;
    await writeFileAtomic(path, svg);
    svgs.push(path);
    const caption = plot.note ? `<figcaption>${escape(plot.note)}</figcaption>` : "";
    sections[plot.section]!.push(
      `<figure class="plot" data-plot="${escape(plot.stem)}">${svg}${caption}</figure>`,
    );
  }
  const tables = Object.entries(input.eval).map(([name, m]) => metricTables(name, m)).join("");
  const title = escape(input.title ?? runDir.split("/").filter(Boolean).at(-1) ?? "run");
  const empty = (what: string) => `<p class="empty">no ${what}</p>`;
  const html =
    `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${title}</title>` +
    `<style>${STYLE}</style></head><body><h1>${title}</h1>` +
    `<h2>Training curves</h2>${sections.curves!.join("") || empty("metrics.jsonl records")}` +
    `<h2>Evaluation</h2>${tables || empty("evaluation results")}${sections.eval!.join("")}` +
    `<h2>Embedding projection</h2>${sections.embeddings!.join("") || empty("embeddings")}` +
    `</body></html>\n`;
  const path = `${runDir}/report.html`;
  await writeFileAtomic(path, html);
  return { html: path, svgs };
}
