/**
 * Zero-shot classification (CLIP, {@link https://arxiv.org/abs/2103.00020 | arXiv 2103.00020}):
 * each class becomes the L2-normalised mean of its prompt embeddings (prompt
 * ensemble over templates), each image is assigned the class of highest cosine
 * similarity, and top-1 (and top-5 when there are ≥ 5 classes) accuracy is
 * reported — optionally with per-class accuracy and bootstrap 95% CIs.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { Evaluator, EvaluatorFactory, InferenceModel, Metrics } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { positiveInt } from "../core/schema.ts";
import type { DataSource } from "../core/types.ts";
import type { Tensor2D } from "../core/tensor.ts";
import { bootstrapCI } from "./bootstrap.ts";
import { argmaxRows, perClassAccuracy, topKHits, weightedMean } from "./classification.ts";
import { embedSplit, embedTexts, splitSize } from "./features.ts";
import { matMulTransposed, type Matrix, normalizeRows } from "./linalg.ts";

/** Parameters of the `zero_shot` evaluator (after validation and defaults). */
export interface ZeroShotParams {
  /** Node producing image embeddings `[B, D]` (or `[1, B, D]`) from `batch.image`. */
  image: string;
  /** Node producing text embeddings `[B, D]` from `batch.caption`. */
  text: string;
  /** Split to evaluate (default `"test"`). */
  split: string;
  /** Prompt templates, `{}` standing for the class name (default `["a photo of the number {}."]`). */
  templates: string[];
  /** Images (and prompts) per forward call (default 256). */
  batch: number;
  /** Evaluate at most this many samples, from the start of the split. */
  limit?: number;
  /** Also report `acc/<class>` for every class present and `mean_per_class` (balanced accuracy). */
  per_class?: boolean;
  /** Bootstrap resamples for 95% CIs of top-1/top-5 (`*_ci_low`, `*_ci_high`); 1000 is usual. */
  bootstrap?: number;
  /** Seed of the bootstrap (default 0). */
  seed?: number;
}

const schema = z.strictObject({
  image: z.string().min(1).describe(
    "Node producing image embeddings `[B, D]` (or `[1, B, D]`) from `batch.image`.",
  ),
  text: z.string().min(1).describe("Node producing text embeddings `[B, D]` from `batch.caption`."),
  split: z.string().min(1).default("test").describe("Split to evaluate."),
  templates: z.array(
    z.string().refine((s) => s.includes("{}"), {
      message: 'each template needs "{}" where the class name goes, e.g. "a photo of a {}."',
    }),
  ).min(1).default(["a photo of the number {}."]).describe(
    "Prompt templates, `{}` standing for the class name; averaged as a prompt ensemble.",
  ),
  batch: positiveInt().default(256).describe("Images (and prompts) per forward call."),
  limit: positiveInt().optional().describe(
    "Evaluate at most this many samples, from the start of the split (absent: all).",
  ),
  per_class: z.boolean().optional().describe(
    "Also report `acc/<class>` for every class present and `mean_per_class` (balanced accuracy).",
  ),
  bootstrap: positiveInt().optional().describe(
    "Bootstrap resamples for 95% CIs of top-1/top-5 (`*_ci_low`, `*_ci_high`); 1000 is usual.",
  ),
  seed: z.number().int().optional().describe("Seed of the bootstrap (default 0)."),
});

/**
 * Prompt-ensemble embeddings `[C, D]` as a matrix: per template, embed every
 * name's prompt and normalise; average over templates; normalise again.
 *
 * @param model The inference graph.
 * @param options Names, templates (`{}` = the name), text node, batch size, evaluator name.
 * @returns Unit rows `[C, D]`, one per name.
 */
export async function promptEnsemble(
  model: InferenceModel,
  options: { names: string[]; templates: string[]; node: string; batch: number; who: string },
): Promise<Matrix> {
  const { names, templates } = options;
  let sum: Matrix | undefined;
  for (const template of templates) {
    const prompts = names.map((name) => template.replaceAll("{}", name));
    const emb = normalizeRows(await embedTexts(model, prompts, options));
    if (sum) emb.data.forEach((v, i) => (sum!.data[i]! += v));
    else sum = emb;
  }
  return normalizeRows(sum!);
}

/**
 * Class embeddings `[C, D]`: per template, embed every class's prompt and
 * normalise; average over templates; normalise again.
 *
 * @param model The inference graph.
 * @param options Class names and evaluator parameters.
 * @returns Unit rows `[C, D]`, one per class (the caller disposes the tensor).
 */
export async function classEmbeddings(
  model: InferenceModel,
  options: { classNames: string[]; params: ZeroShotParams },
): Promise<Tensor2D> {
  const { classNames, params } = options;
  const m = await promptEnsemble(model, {
    names: classNames,
    templates: params.templates,
    node: params.text,
    batch: params.batch,
    who: "zero_shot",
  });
  return tf.tensor2d(Float32Array.from(m.data), [m.rows, m.cols]);
}

/** Throws unless the source names at least two classes. */
function checkClassNames(source: DataSource): void {
  if (source.classNames.length < 2) {
    throw new Error(
      `zero_shot: data source "${source.name}" has ${source.classNames.length} class names; ` +
        `zero-shot classification needs at least 2`,
    );
  }
}

/** Checks the split and class names; returns the number of samples to evaluate. */
function sampleCount(source: DataSource, params: ZeroShotParams): number {
  const total = splitSize(source, { ...params, who: "zero_shot" });
  checkClassNames(source);
  return total;
}

/** Scores and labels of the labelled samples of a split. */
interface Scored {
  /** Cosine scores `[N, C]`. */
  scores: Matrix;
  /** Labels `[N]`, all ≥ 0. */
  labels: Int32Array;
}

/** Keeps the rows whose label is ≥ 0. */
function labelled(scores: Matrix, labels: Int32Array): Scored {
  const keep = [...labels.keys()].filter((i) => labels[i]! >= 0);
  const data = new Float64Array(keep.length * scores.cols);
  keep.forEach((i, r) =>
    data.set(scores.data.subarray(i * scores.cols, (i + 1) * scores.cols), r * scores.cols)
  );
  return {
    scores: { rows: keep.length, cols: scores.cols, data },
    labels: Int32Array.from(keep, (i) => labels[i]!),
  };
}

/** The `zero_shot` evaluator: prompt-ensemble classification of a split, in order. */
export class ZeroShotEvaluator implements Evaluator {
  /**
   * Creates the evaluator.
   *
   * @param params Validated parameters (see {@linkcode ZeroShotParams}).
   */
  constructor(readonly params: ZeroShotParams) {}

  /** Before training: the source must name at least two classes. */
  check(source: DataSource): void {
    checkClassNames(source);
  }

  /**
   * Classifies the first `limit` samples of the split (all by default).
   *
   * @returns `{ top1, top5?, n }`: accuracies in `[0, 1]` over the `n` labelled samples
   * (`top5` only with ≥ 5 classes); with `per_class`, `acc/<class>` and `mean_per_class`;
   * with `bootstrap`, `top1_ci_low`, `top1_ci_high` (and the same for `top5`).
   */
  async evaluate(model: InferenceModel, source: DataSource): Promise<Metrics> {
    const params = this.params;
    const limit = sampleCount(source, params);
    const classes = await promptEnsemble(model, {
      names: source.classNames,
      templates: params.templates,
      node: params.text,
      batch: params.batch,
      who: "zero_shot",
    });
    const { image, labels } = await embedSplit(model, source, {
      ...params,
      limit,
      text: undefined,
      who: "zero_shot",
    });
    if (image!.cols !== classes.cols) {
      throw new Error(
        `zero_shot: image embeddings have dimension ${image!.cols} but text embeddings ` +
          `${classes.cols}; both nodes must end in the same space`,
      );
    }
    const scored = labelled(matMulTransposed(normalizeRows(image!), classes), labels);
    return summarize(scored, { source, params });
  }
}

/** Accuracies (and optional per-class values and CIs), or an error when nothing is labelled. */
function summarize(
  scored: Scored,
  at: { source: DataSource; params: ZeroShotParams },
): Metrics {
  const { source, params } = at;
  const { scores, labels } = scored;
  if (labels.length === 0) {
    throw new Error(
      `zero_shot: split "${params.split}" of "${source.name}" has no labelled samples ` +
        `(every label is -1); zero-shot accuracy needs class labels`,
    );
  }
  const withTop5 = source.classNames.length >= 5;
  const hits1 = topKHits(scores, labels, 1), hits5 = topKHits(scores, labels, 5);
  const metrics: Metrics = { top1: weightedMean(hits1), n: labels.length };
  if (withTop5) metrics.top5 = weightedMean(hits5);
  if (params.per_class) {
    const acc = perClassAccuracy(argmaxRows(scores), labels, { classes: source.classNames.length });
    const present = [...acc].filter(Number.isFinite);
    acc.forEach((a, c) => {
      if (Number.isFinite(a)) metrics[`acc/${source.classNames[c]}`] = a;
    });
    metrics.mean_per_class = present.reduce((s, a) => s + a, 0) / present.length;
  }
  if (params.bootstrap) {
    const [ci1, ci5] = bootstrapCI(
      labels.length,
      (w) => [weightedMean(hits1, w), weightedMean(hits5, w)],
      { resamples: params.bootstrap, seed: params.seed ?? 0 },
    );
    Object.assign(metrics, { top1_ci_low: ci1!.low, top1_ci_high: ci1!.high });
    if (withTop5) Object.assign(metrics, { top5_ci_low: ci5!.low, top5_ci_high: ci5!.high });
  }
  return metrics;
}

/** Registry entry of the `zero_shot` evaluator. */
export const zeroShotEntry: RegistryEntry<EvaluatorFactory> = {
  kind: "zero_shot",
  summary: "zero-shot classification with prompt ensembles: top-1 / top-5 accuracy",
  nodeRefs: { image: "image", text: "text" },
  schema,
  create: (params: ZeroShotParams) => new ZeroShotEvaluator(params),
};
