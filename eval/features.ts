/**
 * What every evaluator needs from a trained model: embeddings of a split's
 * images and captions (read in order, batch by batch, through the inference
 * graph) and of arbitrary prompts, as plain {@link Matrix} values.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { InferenceModel } from "../core/components.ts";
import type { Batch, BatchOptions, DataSource } from "../core/types.ts";
import type { Tensor, Tensor2D } from "../core/tensor.ts";
import { type Matrix, tensorToMatrix } from "./linalg.ts";
import { batchPixelKeys } from "./image_keys.ts";

/**
 * `[B, D]` from `[B, D]`, or view 0 of `[V, B, D]` (a views node adds an axis
 * of 1 at inference). `who` prefixes the error (e.g. `"zero_shot"`).
 */
export function asMatrix(t: Tensor, options: { node: string; who: string }): Tensor2D {
  if (t.rank === 2) return t as Tensor2D;
  if (t.rank === 3) return tf.squeeze(tf.slice(t, [0, 0, 0], [1, -1, -1]), [0]) as Tensor2D;
  throw new Error(
    `${options.who}: node "${options.node}" returned shape [${
      t.shape.join(", ")
    }]; expected embeddings [B, D] or [V, B, D]`,
  );
}

/** Divides each row `[B, D]` by its L2 norm (ε-guarded), on the tensor backend. */
export function normalizeTensorRows(x: Tensor2D): Tensor2D {
  return tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), 1, true), 1e-24))) as Tensor2D;
}

/**
 * Checks that `split` exists; returns how many of its samples to use
 * (`limit` caps it).
 */
export function splitSize(
  source: DataSource,
  options: { split: string; limit?: number; who: string },
): number {
  const info = source.splits[options.split];
  if (!info) {
    throw new Error(
      `${options.who}: split "${options.split}" is not in data source "${source.name}"; ` +
        `expected one of: ${Object.keys(source.splits).join(", ")}`,
    );
  }
  return Math.min(info.size, options.limit ?? Infinity);
}

/** Runs `node` on one batch field and reads the `[B, D]` result into a matrix. */
async function runToMatrix(
  model: InferenceModel,
  input: Record<string, tf.Tensor | string[]>,
  options: { node: string; who: string },
): Promise<Matrix> {
  const out = await model.run(options.node, input);
  try {
    const m = tf.tidy(() => asMatrix(out, options).clone());
    try {
      return await tensorToMatrix(m);
    } finally {
      m.dispose();
    }
  } finally {
    out.dispose();
  }
}

/**
 * Embeddings `[P, D]` of `texts` through `node`, `batch` texts per call (not normalised).
 */
export async function embedTexts(
  model: InferenceModel,
  texts: string[],
  options: { node: string; batch: number; who: string },
): Promise<Matrix> {
  const parts: Matrix[] = [];
  for (let i = 0; i < texts.length; i += options.batch) {
    parts.push(await runToMatrix(model, { caption: texts.slice(i, i + options.batch) }, options));
  }
  return stackRows(parts);
}

/**
 * Embeddings `[N, D]` of images `[N, H, W, C]` through `node`, `batch` images
 * per call (not normalised). The caller keeps and disposes `images`.
 */
export async function embedImages(
  model: InferenceModel,
  images: tf.Tensor4D,
  options: { node: string; batch: number; who: string },
): Promise<Matrix> {
  const parts: Matrix[] = [];
  const n = images.shape[0];
  for (let i = 0; i < n; i += options.batch) {
    const whole = i === 0 && n <= options.batch;
    const image = whole ? images : tf.slice(images, i, Math.min(options.batch, n - i));
    try {
      parts.push(await runToMatrix(model, { image }, options));
    } finally {
      if (image !== images) image.dispose();
    }
  }
  return stackRows(parts);
}

/** Concatenates matrices of equal width along rows. */
export function stackRows(parts: Matrix[]): Matrix {
  const cols = parts[0]?.cols ?? 0;
  const rows = parts.reduce((s, p) => s + p.rows, 0);
  const data = new Float64Array(rows * cols);
  let at = 0;
  for (const p of parts) {
    if (p.cols !== cols) {
      throw new Error(`stackRows: widths differ (${p.cols} vs ${cols}); every part must be [*, D]`);
    }
    data.set(p.data, at);
    at += p.data.length;
  }
  return { rows, cols, data };
}

/** What {@link embedSplit} read. */
export interface SplitEmbeddings {
  /** Image embeddings `[N, D]` (when an image node was given). */
  image?: Matrix;
  /** Caption embeddings `[N, D]` (when a text node was given). */
  text?: Matrix;
  /** Output `[N, K]` of the `extra` node (when given). */
  extra?: Matrix;
  /** Class label per sample (`-1` when unknown). */
  labels: Int32Array;
  /**
   * Multi-label targets `[N, F]` (1, 0, NaN = unknown) when the batches carry
   * a `labels` field `[B·F]` (file-backed sources with `labelNames`, e.g. CheXpert).
   */
  targets?: Matrix;
  /** Caption per sample. */
  captions: string[];
  /** A key of each sample's pixels (with `imageKeys`): equal keys, the same image. */
  imageKeys?: string[];
}

/** Options of {@link embedSplit}. */
export interface EmbedSplitOptions {
  /** Split to read. */
  split: string;
  /** Node embedding `batch.image` (optional). */
  image?: string;
  /** Node embedding `batch.caption` (optional). */
  text?: string;
  /** Any other node, run on image and caption together (e.g. prototype logits; optional). */
  extra?: string;
  /** Samples per forward call. */
  batch: number;
  /** Read at most this many samples from the start of the split. */
  limit?: number;
  /** Evaluator name for error messages. */
  who: string;
  /** Also key each sample's pixels (`eval/image_keys.ts`), to find repeated images. */
  imageKeys?: boolean;
}

/** Matrices collected batch by batch, per node role. */
type Parts = Record<"image" | "text" | "extra" | "targets", Matrix[]>;

/** The first `take` rows of a batch's multi-label `labels` field `[B·F]`, if it has one. */
function batchTargets(batch: Batch, take: number): Matrix | undefined {
  const labels = (batch as Batch & { labels?: unknown }).labels;
  if (!(labels instanceof Float32Array) || batch.label.length === 0) return undefined;
  const f = labels.length / batch.label.length;
  return { rows: take, cols: f, data: Float64Array.from(labels.subarray(0, take * f)) };
}

/** Runs the requested nodes on the first `take` samples of `batch`; appends to `parts`. */
async function embedBatch(
  model: InferenceModel,
  batch: Batch,
  at: { take: number; options: EmbedSplitOptions; parts: Parts },
): Promise<void> {
  const { take, options, parts } = at;
  const caption = batch.caption.slice(0, take);
  const image = take < batch.label.length ? tf.slice(batch.image, 0, take) : batch.image;
  const who = options.who;
  try {
    if (options.image) {
      parts.image.push(await runToMatrix(model, { image }, { node: options.image, who }));
    }
    if (options.text) {
      parts.text.push(await runToMatrix(model, { caption }, { node: options.text, who }));
    }
    if (options.extra) {
      parts.extra.push(await runToMatrix(model, { image, caption }, { node: options.extra, who }));
    }
  } finally {
    if (image !== batch.image) image.dispose();
  }
}

/**
 * Reads the first `limit` samples of a split in order (no shuffling) and
 * embeds their images and/or captions with the inference graph.
 */
export async function embedSplit(
  model: InferenceModel,
  source: DataSource,
  options: EmbedSplitOptions,
): Promise<SplitEmbeddings> {
  const total = splitSize(source, options);
  const batchOptions: BatchOptions = {
    batchSize: Math.min(options.batch, Math.max(total, 1)),
    seed: 0,
    shuffle: false,
    dropLast: false,
    // Replayed calls lend their temporaries between calls; a device conversion would take one.
    hostPixels: true,
  };
  const parts: Parts = { image: [], text: [], extra: [], targets: [] };
  const labels: number[] = [], captions: string[] = [], keys: string[] = [];
  for (let index = 0; captions.length < total; index++) {
    const batch = await source.batch(options.split, index, batchOptions);
    const take = Math.min(batch.label.length, total - captions.length);
    try {
      if (take === 0) {
        throw new Error(
          `${options.who}: batch ${index} of split "${options.split}" is empty with ` +
            `${total - captions.length} samples still expected; the data source's split size ` +
            `and batches disagree`,
        );
      }
      await embedBatch(model, batch, { take, options, parts });
      captions.push(...batch.caption.slice(0, take));
      if (options.imageKeys) {
        const perSample = batch.image.size / batch.label.length;
        keys.push(...batchPixelKeys(await batch.image.data() as Float32Array, take, perSample));
      }
      labels.push(...batch.label.subarray(0, take));
      const targets = batchTargets(batch, take);
      if (targets) parts.targets.push(targets);
    } finally {
      batch.image.dispose();
    }
  }
  const stacked = (role: keyof Parts) =>
    (role === "targets" ? parts.targets.length : options[role])
      ? { [role]: stackRows(parts[role]) }
      : {};
  return {
    ...stacked("image"),
    ...stacked("text"),
    ...stacked("extra"),
    ...stacked("targets"),
    labels: Int32Array.from(labels),
    captions,
    ...(options.imageKeys && { imageKeys: keys }),
  };
}
