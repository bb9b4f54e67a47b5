/**
 * One call that writes a run directory's report after training or
 * `deno task eval`: reads `metrics.jsonl`, embeds a sample of the test split
 * with the image and text nodes the recipe's evaluators name, and calls
 * {@link writeReport}.
 *
 * @module
 */
import type { InferenceModel, Metrics } from "../core/components.ts";
import { readMetrics, runPaths } from "../core/rundir.ts";
import type { DataSource } from "../core/types.ts";
import { embedSplit } from "./features.ts";
import { type ReportEmbeddings, type ReportFiles, writeReport } from "./report.ts";

/**
 * The image and text nodes of the first evaluator spec that names both
 * (`zero_shot`, `retrieval`, `diagnostics` with `text`, …), or `undefined`.
 */
export function reportNodes(
  specs: { kind: string; params: unknown }[],
): { image: string; text: string } | undefined {
  for (const spec of specs) {
    const p = spec.params as { image?: unknown; text?: unknown } | undefined;
    if (typeof p?.image === "string" && typeof p?.text === "string") {
      return { image: p.image, text: p.text };
    }
  }
  return undefined;
}

/** Options of {@link embeddingsForReport}. */
export interface ReportSampleOptions {
  /** Image node. */
  image: string;
  /** Text node. */
  text: string;
  /** Split sampled (default `"test"`). */
  split?: string;
  /** Samples projected (default 500: readable scatter, fast PCA). */
  limit?: number;
  /** Samples per forward call (default 256). */
  batch?: number;
}

/** Embeds the first `limit` samples' images and captions for the projection. */
export async function embeddingsForReport(
  model: InferenceModel,
  source: DataSource,
  options: ReportSampleOptions,
): Promise<ReportEmbeddings> {
  const e = await embedSplit(model, source, {
    image: options.image,
    text: options.text,
    split: options.split ?? "test",
    limit: options.limit ?? 500,
    batch: options.batch ?? 256,
    who: "report",
  });
  return { image: e.image!, text: e.text!, labels: e.labels, classNames: source.classNames };
}

/** Options of {@link writeRunReport}. */
export interface RunReportOptions {
  /** Evaluation results (evaluator name → metrics). */
  eval: Record<string, Metrics>;
  /** The recipe's evaluator specs (`recipe.eval`), to find the embedding nodes. */
  specs?: { kind: string; params: unknown }[];
  /** Inference graph and data source: with both (and nodes found), the projection is drawn. */
  model?: InferenceModel;
  /** See `model`. */
  source?: DataSource;
  /** Override the projection sample (nodes, split, limit). */
  sample?: Partial<ReportSampleOptions>;
}

/**
 * Writes `report.html` and `plots/*.svg` for the run in `runDir`.
 *
 * @param runDir The run directory (its `metrics.jsonl` is read).
 * @param options Evaluation results and, for the embedding projection, model, source and specs.
 * @returns The files written.
 */
export async function writeRunReport(
  runDir: string,
  options: RunReportOptions,
): Promise<ReportFiles> {
  const metrics = await readMetrics(runPaths(runDir));
  const nodes = { ...reportNodes(options.specs ?? []), ...options.sample };
  let embeddings: ReportEmbeddings | undefined;
  if (options.model && options.source && nodes.image && nodes.text) {
    embeddings = await embeddingsForReport(options.model, options.source, {
      ...nodes,
      image: nodes.image,
      text: nodes.text,
    });
  }
  return await writeReport(runDir, { metrics, eval: options.eval, embeddings });
}
