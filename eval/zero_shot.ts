/**
 * Zero-shot classification (CLIP, {@link https://arxiv.org/abs/2103.00020 | arXiv 2103.00020}):
 * each class becomes the L2-normalised mean of its prompt embeddings (prompt
 * ensemble over templates), each image is assigned the class of highest cosine
 * similarity, and top-1 (and top-5 when there are ≥ 5 classes) accuracy is reported.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { Evaluator, EvaluatorFactory, InferenceModel, Metrics } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { positiveInt } from "../core/schema.ts";
import type { BatchOptions, DataSource } from "../core/types.ts";
import type { Tensor, Tensor2D } from "../core/tensor.ts";

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
}

const schema = z.strictObject({
  image: z.string().min(1),
  text: z.string().min(1),
  split: z.string().min(1).default("test"),
  templates: z.array(
    z.string().refine((s) => s.includes("{}"), {
      message: 'each template needs "{}" where the class name goes, e.g. "a photo of a {}."',
    }),
  ).min(1).default(["a photo of the number {}."]),
  batch: positiveInt().default(256),
  limit: positiveInt().optional(),
});

/** `[B, D]` from `[B, D]`, or view 0 of `[V, B, D]` (a views node adds an axis of 1 at inference). */
function asMatrix(t: Tensor, node: string): Tensor2D {
  if (t.rank === 2) return t as Tensor2D;
  if (t.rank === 3) return tf.squeeze(tf.slice(t, [0, 0, 0], [1, -1, -1]), [0]) as Tensor2D;
  throw new Error(
    `zero_shot: node "${node}" returned shape [${
      t.shape.join(", ")
    }]; expected embeddings [B, D] or [V, B, D]`,
  );
}

/** Divides each row by its L2 norm (ε-guarded). */
function normalizeRows(x: Tensor2D): Tensor2D {
  return tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24))) as Tensor2D;
}

/** Normalised embeddings of `prompts`, `batch` prompts per call: `[P, D]`. */
async function embedPrompts(
  model: InferenceModel,
  prompts: string[],
  params: ZeroShotParams,
): Promise<Tensor2D> {
  const parts: Tensor2D[] = [];
  try {
    for (let i = 0; i < prompts.length; i += params.batch) {
      const out = await model.run(params.text, { caption: prompts.slice(i, i + params.batch) });
      try {
        parts.push(tf.tidy(() => normalizeRows(asMatrix(out, params.text))));
      } finally {
        out.dispose();
      }
    }
    return parts.length === 1 ? parts[0]!.clone() : tf.concat(parts, 0);
  } finally {
    tf.dispose(parts);
  }
}

/**
 * Class embeddings `[C, D]`: per template, embed every class's prompt and
 * normalise; average over templates; normalise again.
 *
 * @param model The inference graph.
 * @param options Class names and evaluator parameters.
 * @returns Unit rows `[C, D]`, one per class.
 */
export async function classEmbeddings(
  model: InferenceModel,
  options: { classNames: string[]; params: ZeroShotParams },
): Promise<Tensor2D> {
  const { classNames, params } = options;
  let sum: Tensor2D | undefined;
  try {
    for (const template of params.templates) {
      const prompts = classNames.map((name) => template.replaceAll("{}", name));
      const emb = await embedPrompts(model, prompts, params);
      const next = sum ? tf.add(sum, emb) as Tensor2D : emb.clone();
      tf.dispose(sum ? [sum, emb] : [emb]);
      sum = next;
    }
    return tf.tidy(() => normalizeRows(sum!));
  } finally {
    sum?.dispose();
  }
}

/** Counts of samples whose label is the top prediction / among the top 5. */
interface Tally {
  n: number;
  top1: number;
  top5: number;
}

/** Scores one image batch `[B, D]` against the classes and adds to `tally`. */
async function score(
  emb: Tensor2D,
  at: { classes: Tensor2D; labels: Int32Array; tally: Tally },
): Promise<void> {
  const { classes, labels, tally } = at;
  if (emb.shape[1] !== classes.shape[1]) {
    throw new Error(
      `zero_shot: image embeddings have dimension ${emb.shape[1]} but text embeddings ` +
        `${classes.shape[1]}; both nodes must end in the same space`,
    );
  }
  const k = Math.min(5, classes.shape[0]);
  const top = tf.tidy(() =>
    tf.topk(tf.matMul(normalizeRows(emb), classes, false, true), k).indices
  );
  const idx = await top.data();
  top.dispose();
  for (let i = 0; i < emb.shape[0]; i++) {
    const label = labels[i]!;
    if (label < 0) continue; // unlabelled sample
    const row = Array.from(idx.subarray(i * k, (i + 1) * k));
    tally.n++;
    if (row[0] === label) tally.top1++;
    if (row.includes(label)) tally.top5++;
  }
}

/** Checks the split and class names; returns the number of samples to evaluate. */
function sampleCount(source: DataSource, params: ZeroShotParams): number {
  const info = source.splits[params.split];
  if (!info) {
    throw new Error(
      `zero_shot: split "${params.split}" is not in data source "${source.name}"; ` +
        `expected one of: ${Object.keys(source.splits).join(", ")}`,
    );
  }
  if (source.classNames.length < 2) {
    throw new Error(
      `zero_shot: data source "${source.name}" has ${source.classNames.length} class names; ` +
        `zero-shot classification needs at least 2`,
    );
  }
  return Math.min(info.size, params.limit ?? Infinity);
}

/** The `zero_shot` evaluator: prompt-ensemble classification of a split, in order. */
export class ZeroShotEvaluator implements Evaluator {
  /**
   * Creates the evaluator.
   *
   * @param params Validated parameters (see {@linkcode ZeroShotParams}).
   */
  constructor(readonly params: ZeroShotParams) {}

  /**
   * Classifies the first `limit` samples of the split (all by default).
   *
   * @returns `{ top1, top5?, n }`: accuracies in `[0, 1]` over the `n` labelled samples
   * (`top5` only with ≥ 5 classes).
   */
  async evaluate(model: InferenceModel, source: DataSource): Promise<Metrics> {
    const params = this.params;
    const total = sampleCount(source, params);
    const options: BatchOptions = {
      batchSize: Math.min(params.batch, total),
      seed: 0,
      shuffle: false,
      dropLast: false,
    };
    const classes = await classEmbeddings(model, { classNames: source.classNames, params });
    const tally: Tally = { n: 0, top1: 0, top5: 0 };
    try {
      for (let i = 0, seen = 0; seen < total; i++) {
        seen += await this.#batch(model, source, {
          index: i,
          options,
          left: total - seen,
          classes,
          tally,
        });
      }
    } finally {
      classes.dispose();
    }
    return summarize(tally, source, params);
  }

  /** Embeds and scores batch `index` (at most `left` samples); returns how many it used. */
  async #batch(
    model: InferenceModel,
    source: DataSource,
    at: { index: number; options: BatchOptions; left: number; classes: Tensor2D; tally: Tally },
  ): Promise<number> {
    const { image: node, split } = this.params;
    const batch = await source.batch(split, at.index, at.options);
    const take = Math.min(batch.label.length, at.left);
    const owned: Tensor[] = [];
    try {
      if (take === 0) {
        throw new Error(
          `zero_shot: batch ${at.index} of split "${split}" is empty with ${at.left} samples ` +
            `still expected; the data source's split size and batches disagree`,
        );
      }
      owned.push(take < batch.label.length ? tf.slice(batch.image, 0, take) : batch.image);
      const out = await model.run(node, { image: owned[0]! });
      owned.push(out);
      owned.push(tf.tidy(() => asMatrix(out, node).clone()));
      const labels = batch.label.subarray(0, take);
      await score(owned[2] as Tensor2D, { classes: at.classes, labels, tally: at.tally });
    } finally {
      tf.dispose([batch.image, ...owned]);
    }
    return take;
  }
}

/** Accuracies from the tally, or an error when no sample had a label. */
function summarize(tally: Tally, source: DataSource, params: ZeroShotParams): Metrics {
  if (tally.n === 0) {
    throw new Error(
      `zero_shot: split "${params.split}" of "${source.name}" has no labelled samples ` +
        `(every label is -1); zero-shot accuracy needs class labels`,
    );
  }
  const metrics: Metrics = { top1: tally.top1 / tally.n, n: tally.n };
  if (source.classNames.length >= 5) metrics.top5 = tally.top5 / tally.n;
  return metrics;
}

/** Registry entry of the `zero_shot` evaluator. */
export const zeroShotEntry: RegistryEntry<EvaluatorFactory> = {
  kind: "zero_shot",
  summary: "zero-shot classification with prompt ensembles: top-1 / top-5 accuracy",
  schema,
  create: (params: ZeroShotParams) => new ZeroShotEvaluator(params),
};
