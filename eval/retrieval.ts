/**
 * Cross-modal retrieval: image→text and text→image recall@1/5/10 and median
 * rank by cosine similarity. The gallery is the split's own captions: the
 * first `limit` samples' captions, identical strings merged into one gallery
 * item (template captions repeat). A retrieved item is correct when it is the
 * query's own caption (image), resp. an image carrying the query caption
 * (`match: caption`), or when its class label equals the query's (`match: label`).
 *
 * `match: image` is COCO's and Flickr30k's protocol (clip_benchmark's): a
 * split with several rows per image (one per caption) counts each image once
 * — rows whose pixels are equal are one image (`eval/image_keys.ts`) — and
 * every row's caption is a gallery item. Image→text: a hit when any of the
 * image's captions is among the top K; text→image: when the caption's image is.
 *
 * @module
 */
import { z } from "zod";
import type { Evaluator, EvaluatorFactory, InferenceModel, Metrics } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { positiveInt } from "../core/schema.ts";
import type { DataSource } from "../core/types.ts";
import { embedSplit } from "./features.ts";
import { dot, type Matrix, normalizeRows, row, selectRows } from "./linalg.ts";

/** Parameters of the `retrieval` evaluator (after validation and defaults). */
export interface RetrievalParams {
  /** Node producing image embeddings from `batch.image`. */
  image: string;
  /** Node producing text embeddings from `batch.caption`. */
  text: string;
  /** Split to read (default `"test"`). */
  split: string;
  /** Samples (queries and gallery) taken from the start of the split (default 1000). */
  limit: number;
  /**
   * What counts as a correct item: the same caption string, the same class
   * label, or (several captions per image) the same image.
   */
  match: "caption" | "label" | "image";
  /** Samples per forward call (default 256). */
  batch: number;
}

const schema = z.strictObject({
  image: z.string().min(1).describe("Node producing image embeddings from `batch.image`."),
  text: z.string().min(1).describe("Node producing text embeddings from `batch.caption`."),
  split: z.string().min(1).default("test").describe("Split to read."),
  limit: positiveInt().default(1000).describe(
    "Samples (queries and gallery) taken from the start of the split.",
  ),
  match: z.enum(["caption", "label", "image"]).default("caption").describe(
    "What counts as a correct item: the same caption string, the same class label, or the same " +
      "image (COCO's and Flickr30k's protocol: rows with equal pixels are one image, each of its " +
      "captions a gallery item; `n` counts images, `gallery` captions).",
  ),
  batch: positiveInt().default(256).describe("Samples per forward call."),
});

/**
 * 1-based rank of the first correct candidate for every query, by descending
 * dot product. Ties with wrong candidates count against the query
 * (pessimistic), so a collapsed embedding gets the worst rank, not the best.
 *
 * @param queries `[Q, D]` (unit rows for cosine similarity).
 * @param candidates `[C, D]`.
 * @param groups Group id per query `[Q]` and per candidate `[C]`; equal ids are correct pairs.
 * @returns `[Q]` ranks in `1..C`, or `C + 1` when a query has no correct candidate.
 */
export function retrievalRanks(
  queries: Matrix,
  candidates: Matrix,
  groups: { queries: ArrayLike<number>; candidates: ArrayLike<number> },
): Int32Array {
  const ranks = new Int32Array(queries.rows);
  const scores = new Float64Array(candidates.rows);
  for (let q = 0; q < queries.rows; q++) {
    const qv = row(queries, q);
    let best = -Infinity;
    for (let c = 0; c < candidates.rows; c++) {
      scores[c] = dot(qv, row(candidates, c));
      if (groups.candidates[c] === groups.queries[q] && scores[c]! > best) best = scores[c]!;
    }
    if (best === -Infinity) {
      ranks[q] = candidates.rows + 1;
      continue;
    }
    let ahead = 0;
    for (let c = 0; c < candidates.rows; c++) {
      if (groups.candidates[c] !== groups.queries[q] && scores[c]! >= best) ahead++;
    }
    ranks[q] = ahead + 1;
  }
  return ranks;
}

/** Fraction of ranks `≤ k`. */
export function recallAtK(ranks: ArrayLike<number>, k: number): number {
  let hit = 0;
  for (let i = 0; i < ranks.length; i++) if (ranks[i]! <= k) hit++;
  return hit / ranks.length;
}

/** Median of the ranks (mean of the two middle ones for an even count). */
export function medianRank(ranks: ArrayLike<number>): number {
  const sorted = Float64Array.from(ranks).sort();
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** `R@1/5/10` and median rank of `ranks`, keys prefixed by `prefix`. */
function summary(prefix: string, ranks: Int32Array): Metrics {
  return {
    [`${prefix}_r1`]: recallAtK(ranks, 1),
    [`${prefix}_r5`]: recallAtK(ranks, 5),
    [`${prefix}_r10`]: recallAtK(ranks, 10),
    [`${prefix}_median_rank`]: medianRank(ranks),
  };
}

/**
 * Retrieval metrics of paired embeddings: sample i's image and caption.
 *
 * @param pairs Image `[N, D]` and caption `[N, D]` embeddings, captions and labels of N samples.
 * @param options `match`: correct = same caption string (default), same label, or
 *   same image (`pairs.imageKeys` say which rows show one).
 * @returns `i2t_r1`, `i2t_r5`, `i2t_r10`, `i2t_median_rank`, the same for `t2i`,
 *   `n` (images; distinct ones with `image`) and `gallery` (distinct captions;
 *   every row's with `image`).
 */
export function retrievalMetrics(
  pairs: {
    image: Matrix;
    text: Matrix;
    captions: string[];
    labels: ArrayLike<number>;
    imageKeys?: string[];
  },
  options: { match?: "caption" | "label" | "image" } = {},
): Metrics {
  if (options.match === "image") return imageMatchedMetrics(pairs);
  const ids = new Map<string, number>();
  const first: number[] = [];
  const captionId = pairs.captions.map((c, i) => {
    if (!ids.has(c)) {
      ids.set(c, ids.size);
      first.push(i);
    }
    return ids.get(c)!;
  });
  const byLabel = options.match === "label";
  const imageGroups = byLabel ? Array.from(pairs.labels) : captionId;
  const textGroups = byLabel ? first.map((i) => pairs.labels[i]!) : first.map((_, u) => u);
  const images = normalizeRows(pairs.image);
  const texts = normalizeRows(selectRows(pairs.text, first));
  const i2t = retrievalRanks(images, texts, { queries: imageGroups, candidates: textGroups });
  const t2i = retrievalRanks(texts, images, { queries: textGroups, candidates: imageGroups });
  return { ...summary("i2t", i2t), ...summary("t2i", t2i), n: images.rows, gallery: texts.rows };
}

/**
 * COCO-style retrieval (`match: image`): the distinct images (by key, first
 * row's embedding) against every row's caption.
 */
function imageMatchedMetrics(
  pairs: { image: Matrix; text: Matrix; imageKeys?: string[] },
): Metrics {
  const keys = pairs.imageKeys;
  if (!keys || keys.length !== pairs.text.rows) {
    throw new Error(
      `retrieval: match "image" needs a pixel key per row (${keys?.length ?? 0} for ` +
        `${pairs.text.rows} captions)`,
    );
  }
  const ids = new Map<string, number>();
  const first: number[] = [];
  const imageOfRow = keys.map((key, i) => {
    if (!ids.has(key)) {
      ids.set(key, ids.size);
      first.push(i);
    }
    return ids.get(key)!;
  });
  const images = normalizeRows(selectRows(pairs.image, first));
  const texts = normalizeRows(pairs.text);
  const imageIds = first.map((_, u) => u);
  const i2t = retrievalRanks(images, texts, { queries: imageIds, candidates: imageOfRow });
  const t2i = retrievalRanks(texts, images, { queries: imageOfRow, candidates: imageIds });
  return { ...summary("i2t", i2t), ...summary("t2i", t2i), n: images.rows, gallery: texts.rows };
}

/** The `retrieval` evaluator. */
export class RetrievalEvaluator implements Evaluator {
  /** Creates the evaluator from validated parameters. */
  constructor(readonly params: RetrievalParams) {}

  /** Embeds the first `limit` images and captions of the split and ranks both ways. */
  async evaluate(model: InferenceModel, source: DataSource): Promise<Metrics> {
    const { image, text, captions, labels, imageKeys } = await embedSplit(model, source, {
      ...this.params,
      who: "retrieval",
      imageKeys: this.params.match === "image",
    });
    if (image!.cols !== text!.cols) {
      throw new Error(
        `retrieval: image embeddings have dimension ${image!.cols} but text embeddings ` +
          `${text!.cols}; both nodes must end in the same space`,
      );
    }
    if (this.params.match === "label" && labels.some((l) => l < 0)) {
      throw new Error(
        `retrieval: match "label" needs class labels, but split "${this.params.split}" of ` +
          `"${source.name}" has unlabelled samples (-1); use match: caption`,
      );
    }
    return retrievalMetrics(
      { image: image!, text: text!, captions, labels, ...(imageKeys && { imageKeys }) },
      this.params,
    );
  }
}

/** Registry entry of the `retrieval` evaluator. */
export const retrievalEntry: RegistryEntry<EvaluatorFactory> = {
  kind: "retrieval",
  summary: "image→text and text→image recall@1/5/10 and median rank on the split's captions",
  nodeRefs: { image: "image", text: "text" },
  schema,
  create: (params: RetrievalParams) => new RetrievalEvaluator(params),
};
