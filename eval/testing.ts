/**
 * Test doubles for evaluators: a data source whose "images" are given
 * embedding vectors, and an inference model whose image node reads them back
 * and whose text node looks captions up in a table. Lets metric tests state
 * the exact embeddings an evaluator sees.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { InferenceModel } from "../core/components.ts";
import type { Batch, BatchOptions, DataSource, NodeValue, SplitInfo } from "../core/types.ts";
import type { Tensor } from "../core/tensor.ts";

/** One split of an {@link EmbeddingSource}. */
export interface EmbeddingSplit {
  /** Image embedding of each sample `[N][D]`. */
  embeddings: number[][];
  /** Class label of each sample (`-1` unknown). */
  labels: number[];
  /** Caption of each sample (default `"sample <i>"`). */
  captions?: string[];
}

/** A data source whose images `[B, 1, D, 1]` hold given embedding vectors, read in order. */
export class EmbeddingSource implements DataSource {
  /** Source name. */
  readonly name = "embeddings";
  /** `[1, D, 1]`. */
  readonly imageShape: [number, number, number];
  /** Split sizes. */
  readonly splits: Record<string, SplitInfo>;
  /** Every `BatchOptions` received, in order. */
  readonly calls: BatchOptions[] = [];

  /** Creates the source from named splits of equal embedding width. */
  constructor(readonly data: Record<string, EmbeddingSplit>, readonly classNames: string[]) {
    const first = Object.values(data)[0]!;
    this.imageShape = [1, first.embeddings[0]?.length ?? 0, 1];
    this.splits = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, { size: v.labels.length }]),
    );
  }

  /** Batches per epoch of `split` under `options`. */
  batchesPerEpoch(split: string, options: BatchOptions): number {
    const size = this.splits[split]!.size;
    return options.dropLast
      ? Math.floor(size / options.batchSize)
      : Math.ceil(size / options.batchSize);
  }

  /** Batch `batchIndex` of `split` in the fixed order (shuffling is not supported). */
  batch(split: string, batchIndex: number, options: BatchOptions): Promise<Batch> {
    this.calls.push(options);
    if (options.shuffle) throw new Error("EmbeddingSource reads in order only");
    const { embeddings, labels, captions } = this.data[split]!;
    const per = this.batchesPerEpoch(split, options);
    const start = (batchIndex % per) * options.batchSize;
    const index = Int32Array.from(
      { length: Math.max(0, Math.min(options.batchSize, labels.length - start)) },
      (_, i) => start + i,
    );
    const d = this.imageShape[1];
    return Promise.resolve({
      image: tf.tensor4d(Array.from(index, (i) => embeddings[i]!).flat(), [index.length, 1, d, 1]),
      caption: Array.from(index, (i) => captions?.[i] ?? `sample ${i}`),
      label: Int32Array.from(index, (i) => labels[i]!),
      index,
    });
  }

  /** Nothing to release. */
  dispose(): void {}
}

/**
 * An inference model with two nodes: `image` returns the embedding stored in
 * the image `[B, D]`, `text` returns `texts[caption]` for each caption (an
 * unknown caption throws). `runs` records the targets in call order.
 */
export function embeddingModel(
  texts: Record<string, number[]>,
): InferenceModel & { runs: string[] } {
  const runs: string[] = [];
  return {
    runs,
    run(target: string, batch: Record<string, NodeValue>): Promise<Tensor> {
      runs.push(target);
      if (target === "text") {
        const captions = batch.caption as string[];
        const rows = captions.map((c) => {
          const v = texts[c];
          if (!v) throw new Error(`embeddingModel: no text embedding for "${c}"`);
          return v;
        });
        return Promise.resolve(tf.tensor2d(rows, [rows.length, rows[0]?.length ?? 0]));
      }
      if (target !== "image") throw new Error(`embeddingModel: unknown node "${target}"`);
      const image = batch.image as tf.Tensor4D;
      return Promise.resolve(tf.reshape(image, [image.shape[0], image.shape[2]]));
    },
  };
}
