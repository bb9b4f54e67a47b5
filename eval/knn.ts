/**
 * k-nearest-neighbour classification on frozen features by cosine
 * similarity: each test sample takes the majority label of its `k` most
 * similar training samples (ties: larger summed similarity, then the lower
 * class index). Similarities are computed on the tensor backend in chunks.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { Evaluator, EvaluatorFactory, InferenceModel, Metrics } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { positiveInt } from "../core/schema.ts";
import type { DataSource } from "../core/types.ts";
import { embedSplit } from "./features.ts";
import { type Matrix, normalizeRows, selectRows } from "./linalg.ts";

/** Parameters of the `knn` evaluator (after validation and defaults). */
export interface KnnParams {
  /** Node whose output `[B, D]` is the frozen feature. */
  image: string;
  /** Split whose samples are the neighbours (default `"train"`). */
  train: string;
  /** Split classified (default `"test"`). */
  split: string;
  /** Number of neighbours (default 20). */
  k: number;
  /** Training samples read from the start of `train` (default 10000). */
  train_limit: number;
  /** Test samples read (default: all). */
  limit?: number;
  /** Samples per forward call (default 256). */
  batch: number;
  /** `vote` (absent: a count majority, ties by summed similarity) or `dino` (Σ exp(sim/T) per class). */
  weighting?: "vote" | "dino";
  /** Temperature T of `dino` weighting (absent: 0.07, DINO's). */
  temperature?: number;
}

const schema = z.strictObject({
  image: z.string().min(1).describe("Node whose output `[B, D]` is the frozen feature."),
  train: z.string().min(1).default("train").describe("Split whose samples are the neighbours."),
  split: z.string().min(1).default("test").describe("Split classified."),
  k: positiveInt().default(20).describe("Number of neighbours."),
  train_limit: positiveInt().default(10000).describe(
    "Training samples read from the start of `train`.",
  ),
  limit: positiveInt().optional().describe("Test samples read (absent: all)."),
  batch: positiveInt().default(256).describe("Samples per forward call."),
  weighting: z.enum(["vote", "dino"]).optional().describe(
    "How neighbours vote: `vote` (absent) a count majority, ties broken by summed similarity; " +
      "`dino` DINO's weighted kNN, Σ exp(similarity / temperature) per class.",
  ),
  temperature: z.number().positive().optional().describe(
    "Temperature of `dino` weighting (absent: 0.07, DINO's).",
  ),
}).refine((p) => p.split !== p.train, {
  message: "split names the neighbours' split: a query would find itself among its neighbours; " +
    "classify another split (test, val)",
  path: ["split"],
}).refine((p) => p.temperature === undefined || p.weighting === "dino", {
  message: "temperature applies to weighting: dino",
  path: ["temperature"],
});

/** How neighbours vote: a count majority, or DINO's Σ exp(sim / T) at temperature T. */
export type KnnWeighting = { kind: "vote" } | { kind: "dino"; temperature: number };

/**
 * The class the neighbours (labels `labels`, similarities `sims`) vote for:
 * a count majority (ties by summed similarity, then the lower class), or
 * DINO's weighted vote, Σ exp(sim / T) per class (ties: the lower class).
 */
function vote(
  labels: number[],
  sims: ArrayLike<number>,
  at: { classes: number; weighting: KnnWeighting },
): number {
  const { classes, weighting } = at;
  const count = new Float64Array(classes), mass = new Float64Array(classes);
  labels.forEach((l, j) => {
    count[l]! += weighting.kind === "dino" ? Math.exp(sims[j]! / weighting.temperature) : 1;
    mass[l]! += sims[j]!;
  });
  let best = 0;
  for (let c = 1; c < classes; c++) {
    const tie = count[c] === count[best] && weighting.kind === "vote" && mass[c]! > mass[best]!;
    if (count[c]! > count[best]! || tie) best = c;
  }
  return best;
}

/**
 * Predicted class of every query by cosine kNN.
 *
 * @param train Neighbour features `[N, D]` and labels `[N]` in `[0, C)`.
 * @param queries Features to classify `[Q, D]`.
 * @param options `k` (capped at N) and the number of classes C.
 * @returns `[Q]` predicted labels.
 */
export async function knnPredict(
  train: { x: Matrix; y: ArrayLike<number> },
  queries: Matrix,
  options: { k: number; classes: number; weighting?: KnnWeighting },
): Promise<Int32Array> {
  const weighting = options.weighting ?? { kind: "vote" };
  if (train.x.cols !== queries.cols) {
    throw new Error(`knn: train features have ${train.x.cols} dimensions, queries ${queries.cols}`);
  }
  const k = Math.min(options.k, train.x.rows);
  const unit = normalizeRows(train.x);
  const bank = tf.tensor2d(Float32Array.from(unit.data), [unit.rows, unit.cols]);
  const q = normalizeRows(queries);
  const chunk = Math.max(1, Math.floor(2 ** 22 / Math.max(train.x.rows, 1)));
  const out = new Int32Array(q.rows);
  try {
    for (let start = 0; start < q.rows; start += chunk) {
      const rows = Math.min(chunk, q.rows - start);
      const part = q.data.subarray(start * q.cols, (start + rows) * q.cols);
      const { values, indices } = tf.tidy(() => {
        const sims = tf.matMul(
          tf.tensor2d(Float32Array.from(part), [rows, q.cols]),
          bank,
          false,
          true,
        );
        return tf.topk(sims, k);
      });
      const [v, idx] = await Promise.all([values.data(), indices.data()]);
      tf.dispose([values, indices]);
      for (let i = 0; i < rows; i++) {
        const nb = Array.from(idx.subarray(i * k, (i + 1) * k), (j) => train.y[j]!);
        out[start + i] = vote(nb, v.subarray(i * k, (i + 1) * k), {
          classes: options.classes,
          weighting,
        });
      }
    }
  } finally {
    bank.dispose();
  }
  return out;
}

/** The `knn` evaluator. */
export class KnnEvaluator implements Evaluator {
  /** Creates the evaluator from validated parameters. */
  constructor(readonly params: KnnParams) {}

  /**
   * Classifies the test split by the kNN vote of the training split's features.
   *
   * @returns `top1` over the labelled test samples, `k` used, `n`, `n_train`.
   */
  async evaluate(model: InferenceModel, source: DataSource): Promise<Metrics> {
    const p = this.params;
    const read = (split: string, limit?: number) =>
      embedSplit(model, source, { ...p, split, limit, text: undefined, who: "knn" });
    const bank = await read(p.train, p.train_limit);
    const test = await read(p.split, p.limit);
    const keep = (labels: Int32Array) => [...labels.keys()].filter((i) => labels[i]! >= 0);
    const [trainRows, testRows] = [keep(bank.labels), keep(test.labels)];
    if (!trainRows.length || !testRows.length) {
      throw new Error(
        `knn: needs labelled samples in "${p.train}" (${trainRows.length}) and "${p.split}" ` +
          `(${testRows.length}) of "${source.name}"`,
      );
    }
    const predicted = await knnPredict(
      { x: selectRows(bank.image!, trainRows), y: trainRows.map((i) => bank.labels[i]!) },
      selectRows(test.image!, testRows),
      {
        k: p.k,
        classes: source.classNames.length,
        weighting: p.weighting === "dino"
          ? { kind: "dino", temperature: p.temperature ?? 0.07 }
          : { kind: "vote" },
      },
    );
    const right = testRows.filter((i, r) => predicted[r] === test.labels[i]).length;
    return {
      top1: right / testRows.length,
      k: Math.min(p.k, trainRows.length),
      n: testRows.length,
      n_train: trainRows.length,
    };
  }
}

/** Registry entry of the `knn` evaluator. */
export const knnEntry: RegistryEntry<EvaluatorFactory> = {
  kind: "knn",
  summary: "cosine k-nearest-neighbour classification on frozen features",
  nodeRefs: { image: "image" },
  schema,
  create: (params: KnnParams) => new KnnEvaluator(params),
};
