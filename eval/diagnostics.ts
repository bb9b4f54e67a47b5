/**
 * Representation diagnostics of a trained (or training) model: per modality
 * the SIGReg statistic, effective rank (RankMe), normalised per-dimension std
 * and uniformity; across modalities the modality gap, the accuracy of a
 * linear modality classifier and the alignment of pairs; prototype usage of a
 * prototype head; and a collapse alarm. Evaluator kind `diagnostics`, and
 * {@link runDiagnostics} for the training loop (every `every` steps).
 *
 * @module
 */
import { z } from "zod";
import type { Evaluator, EvaluatorFactory, InferenceModel, Metrics } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { nonNegative, positiveInt } from "../core/schema.ts";
import { Rng, shuffle } from "../core/rng.ts";
import type { DataSource } from "../core/types.ts";
import { topKHits, weightedMean } from "./classification.ts";
import { embedSplit } from "./features.ts";
import {
  alignment,
  effectiveRank,
  modalityGap,
  normalizedStd,
  prototypeUsage,
  sigregStatistic,
  uniformity,
} from "./geometry.ts";
import { type Matrix, normalizeRows, selectRows } from "./linalg.ts";
import { featureStats, fitLogistic, logisticScores, standardize } from "./logistic.ts";
import { stackRows } from "./features.ts";

/** Parameters of the `diagnostics` evaluator (after validation and defaults). */
export interface DiagnosticsParams {
  /** Node producing image embeddings. */
  image: string;
  /** Node producing text embeddings (optional: image-only diagnostics without it). */
  text?: string;
  /** Node producing prototype logits `[B, Kp]` (nCLIP; optional). */
  prototypes?: string;
  /** Temperature turning prototype logits into distributions (default 0.1). */
  prototype_temperature: number;
  /** Split read (default `"test"`). */
  split: string;
  /** Samples read from the start of the split (default 1000). */
  limit: number;
  /** Random SIGReg directions (default 256; fixed seed, so values are comparable over time). */
  slices: number;
  /** Collapse alarm when an effective rank falls below this (default 2). */
  min_rank: number;
  /** Collapse alarm when a normalised per-dimension std falls below this (default 0.05). */
  min_std: number;
  /** During training: run every this many steps (0 or absent: only at the end). */
  every: number;
  /** Samples per forward call (default 256). */
  batch: number;
  /** Seed of the directions and of the modality-classifier split (default 0). */
  seed: number;
}

const schema = z.strictObject({
  image: z.string().min(1).describe("Node producing image embeddings."),
  text: z.string().min(1).optional().describe(
    "Node producing text embeddings (absent: image-only diagnostics).",
  ),
  prototypes: z.string().min(1).optional().describe(
    "Node producing prototype logits `[B, Kp]` (nCLIP): reports prototype usage.",
  ),
  prototype_temperature: z.number().positive().default(0.1).describe(
    "Temperature turning prototype logits into distributions.",
  ),
  split: z.string().min(1).default("test").describe("Split read."),
  limit: positiveInt().default(1000).describe("Samples read from the start of the split."),
  slices: positiveInt().default(256).describe(
    "Random SIGReg directions (fixed seed, so values are comparable over time).",
  ),
  min_rank: nonNegative().default(2).describe(
    "Collapse alarm when an effective rank falls below this.",
  ),
  min_std: nonNegative().default(0.05).describe(
    "Collapse alarm when a normalised per-dimension std falls below this.",
  ),
  every: z.number().int().min(0).default(0).describe(
    "During training: run every this many steps (0: only at the end).",
  ),
  batch: positiveInt().default(256).describe("Samples per forward call."),
  seed: z.number().int().default(0).describe(
    "Seed of the directions and of the modality-classifier split.",
  ),
});

/**
 * Accuracy of a linear classifier telling image from text embeddings
 * (L2-normalised): logistic regression trained on a seeded half of the pairs,
 * scored on the other half. ≈ 0.5 when the modalities overlap, 1 when a
 * hyperplane separates them (the usual "modality gap").
 */
export async function modalityClassifierAccuracy(
  image: Matrix,
  text: Matrix,
  options: { seed?: number; steps?: number } = {},
): Promise<number> {
  if (image.rows < 2 || image.rows !== text.rows) {
    throw new Error(
      `modality classifier: needs ≥ 2 pairs of equal count, got ${image.rows} and ${text.rows}`,
    );
  }
  const order = Int32Array.from({ length: image.rows }, (_, i) => i);
  shuffle(order, new Rng(options.seed ?? 0));
  const half = image.rows >> 1;
  const [a, b] = [normalizeRows(image), normalizeRows(text)];
  const fold = (idx: Int32Array) => ({
    x: stackRows([selectRows(a, idx), selectRows(b, idx)]),
    y: Int32Array.from({ length: 2 * idx.length }, (_, i) => (i < idx.length ? 0 : 1)),
  });
  const train = fold(order.subarray(0, half)), test = fold(order.subarray(half));
  const stats = featureStats(train.x);
  const model = await fitLogistic(standardize(train.x, stats), train.y, {
    classes: 2,
    steps: options.steps ?? 200,
    weightDecay: 1e-4,
  });
  return weightedMean(topKHits(logisticScores(model, standardize(test.x, stats)), test.y, 1));
}

/** Per-modality metrics, keys `<modality>/<metric>`. */
async function modalityMetrics(
  name: string,
  z: Matrix,
  params: DiagnosticsParams,
): Promise<Metrics> {
  return {
    [`${name}/sigreg`]: await sigregStatistic(z, { slices: params.slices, seed: params.seed }),
    [`${name}/rank`]: effectiveRank(z),
    [`${name}/std`]: normalizedStd(z),
    [`${name}/uniformity`]: uniformity(z),
  };
}

/**
 * All diagnostics of given embeddings.
 *
 * @param embeddings Image `[N, D]`, optional paired text `[N, D]` and prototype logits `[N, Kp]`.
 * @returns Metrics: `image/…` and `text/…` (`sigreg`, `rank`, `std`, `uniformity`), `gap`,
 *   `gap_accuracy`, `alignment`, `prototypes/used` (fraction), `prototypes/count`, `prototypes/perplexity`, `collapse` (0/1), `n`.
 */
export async function diagnoseEmbeddings(
  embeddings: { image: Matrix; text?: Matrix; prototypes?: Matrix },
  params: DiagnosticsParams,
): Promise<Metrics> {
  const { image, text, prototypes } = embeddings;
  const metrics: Metrics = { n: image.rows, ...await modalityMetrics("image", image, params) };
  if (text) {
    Object.assign(metrics, await modalityMetrics("text", text, params));
    if (text.cols === image.cols) {
      metrics.gap = modalityGap(image, text);
      metrics.gap_accuracy = await modalityClassifierAccuracy(image, text, { seed: params.seed });
      metrics.alignment = alignment(image, text);
    }
  }
  if (prototypes) {
    const usage = prototypeUsage(prototypes, { temperature: params.prototype_temperature });
    Object.assign(metrics, {
      "prototypes/used": usage.used,
      "prototypes/count": usage.count,
      "prototypes/perplexity": usage.perplexity,
    });
  }
  metrics.collapse = collapseAlarm(metrics, params) ? 1 : 0;
  return metrics;
}

/**
 * The collapse alarm: a warning naming each modality whose effective rank is
 * below `min_rank` or whose normalised per-dimension std is below `min_std`,
 * or `undefined` when all is well.
 */
export function collapseAlarm(
  metrics: Metrics,
  thresholds: { min_rank: number; min_std: number },
): string | undefined {
  const problems: string[] = [];
  for (const m of ["image", "text"]) {
    const rank = metrics[`${m}/rank`], std = metrics[`${m}/std`];
    if (rank !== undefined && rank < thresholds.min_rank) {
      problems.push(`${m} effective rank ${rank.toFixed(2)} < min_rank ${thresholds.min_rank}`);
    }
    if (std !== undefined && std < thresholds.min_std) {
      problems.push(
        `${m} normalised per-dimension std ${std.toFixed(4)} < min_std ${thresholds.min_std}`,
      );
    }
  }
  if (!problems.length) return undefined;
  return `collapse alarm: ${problems.join("; ")}. The embedding is collapsing: consider a larger ` +
    `SIGReg/uniformity weight, a lower learning rate or a longer warm-up.`;
}

/** What {@link runDiagnostics} returns. */
export interface DiagnosticsReport {
  /** The metrics of {@link diagnoseEmbeddings}. */
  metrics: Metrics;
  /** The collapse alarm, when it fired. */
  warning?: string;
}

/**
 * Embeds the first `limit` samples of the split and diagnoses them (what the
 * training loop calls every `every` steps with the inference graph).
 */
export async function runDiagnostics(
  model: InferenceModel,
  source: DataSource,
  params: DiagnosticsParams,
): Promise<DiagnosticsReport> {
  const e = await embedSplit(model, source, {
    ...params,
    extra: params.prototypes,
    who: "diagnostics",
  });
  const metrics = await diagnoseEmbeddings(
    { image: e.image!, text: e.text, prototypes: e.extra },
    params,
  );
  const warning = collapseAlarm(metrics, params);
  return warning ? { metrics, warning } : { metrics };
}

/**
 * The recipe's diagnostics evaluator that asks to run during training
 * (`every > 0`), with its index in `specs` and its validated parameters;
 * `undefined` when none does.
 */
export function diagnosticsSchedule(
  specs: { kind: string; name: string; params: unknown }[],
): { name: string; index: number; every: number; params: DiagnosticsParams } | undefined {
  const index = specs.findIndex((s) =>
    s.kind === "diagnostics" && (s.params as DiagnosticsParams).every > 0
  );
  if (index < 0) return undefined;
  const spec = specs[index]!;
  const params = spec.params as DiagnosticsParams;
  return { name: spec.name, index, every: params.every, params };
}

/** The `diagnostics` evaluator. */
export class DiagnosticsEvaluator implements Evaluator {
  /** Creates the evaluator from validated parameters. */
  constructor(readonly params: DiagnosticsParams) {}

  /** Runs {@link runDiagnostics}; the collapse alarm is printed to stderr when it fires. */
  async evaluate(model: InferenceModel, source: DataSource): Promise<Metrics> {
    const { metrics, warning } = await runDiagnostics(model, source, this.params);
    if (warning) console.warn(warning);
    return metrics;
  }
}

/** Registry entry of the `diagnostics` evaluator. */
export const diagnosticsEntry: RegistryEntry<EvaluatorFactory> = {
  kind: "diagnostics",
  summary:
    "embedding geometry: SIGReg, effective rank, modality gap, alignment/uniformity, collapse alarm",
  nodeRefs: { image: "image", text: "text", prototypes: "image" },
  schema,
  create: (params: DiagnosticsParams) => new DiagnosticsEvaluator(params),
};
