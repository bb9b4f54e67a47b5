import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import { type Matrix, matrixFromRows } from "./linalg.ts";
import {
  medianRank,
  recallAtK,
  retrievalEntry,
  retrievalMetrics,
  retrievalRanks,
} from "./retrieval.ts";
import { embeddingModel, EmbeddingSource } from "./testing.ts";

await tf.setBackend("cpu");

/** Queries = identity rows, candidates = Sᵀ, so that ⟨query q, candidate c⟩ = S[q][c]. */
function fromScores(s: number[][]): { queries: Matrix; candidates: Matrix } {
  const q = s.length, c = s[0]!.length;
  const queries = matrixFromRows(
    Array.from({ length: q }, (_, i) => Array.from({ length: q }, (_, j) => (i === j ? 1 : 0))),
  );
  const candidates = matrixFromRows(Array.from({ length: c }, (_, j) => s.map((r) => r[j]!)));
  return { queries, candidates };
}

/** Rank by sorting: position (1-based) of the first correct candidate in descending order, ties pessimistic. */
function sortedRank(scores: number[], correct: boolean[]): number {
  const order = scores.map((_, i) => i).sort((a, b) =>
    scores[b]! - scores[a]! || Number(correct[a]) - Number(correct[b])
  );
  return order.findIndex((i) => correct[i]) + 1;
}

Deno.test("retrievalRanks on a constructed similarity matrix: R@K and median rank", () => {
  // Query q's correct candidate is candidate q; it is placed at rank 1, 3, 7 and 12.
  const base = Array.from({ length: 12 }, (_, j) => 1 - j / 12); // strictly decreasing
  const rankOf = [1, 3, 7, 12];
  const s = rankOf.map((r, q) => {
    const row = base.slice();
    // Swap so that candidate q holds the r-th largest score.
    [row[q], row[r - 1]] = [row[r - 1]!, row[q]!];
    return row;
  });
  const { queries, candidates } = fromScores(s);
  const groups = { queries: [0, 1, 2, 3], candidates: Array.from({ length: 12 }, (_, j) => j) };
  const ranks = retrievalRanks(queries, candidates, groups);
  assert.deepEqual([...ranks], rankOf);
  assert.equal(recallAtK(ranks, 1), 0.25);
  assert.equal(recallAtK(ranks, 5), 0.5);
  assert.equal(recallAtK(ranks, 10), 0.75);
  assert.equal(medianRank(ranks), 5);
  assert.equal(medianRank([4, 1, 9]), 4);
});

Deno.test("retrievalRanks: best correct item counts, ties are pessimistic, none → C + 1", () => {
  const { queries, candidates } = fromScores([
    [0.1, 0.9, 0.5, 0.7], // correct: 0 and 2 (group 0) → best 0.5, one wrong (0.9, 0.7) ahead each → 3
    [0.4, 0.4, 0.4, 0.4], // correct: 1 (group 1), all tied → behind the 3 others → 4
    [0.3, 0.2, 0.1, 0.0], // group 5: nothing correct → 5
  ]);
  const ranks = retrievalRanks(queries, candidates, {
    queries: [0, 1, 5],
    candidates: [0, 1, 0, 2],
  });
  assert.deepEqual([...ranks], [3, 4, 5]);
});

Deno.test("retrievalRanks agrees with ranking by sorting on random scores with ties", () => {
  const rng = new Rng(9);
  const s = Array.from({ length: 30 }, () => Array.from({ length: 25 }, () => rng.int(8) / 8));
  const qGroups = s.map(() => rng.int(6)), cGroups = s[0]!.map(() => rng.int(6));
  const { queries, candidates } = fromScores(s);
  const ranks = retrievalRanks(queries, candidates, { queries: qGroups, candidates: cGroups });
  s.forEach((scores, q) => {
    const correct = cGroups.map((g) => g === qGroups[q]);
    const expected = correct.some(Boolean) ? sortedRank(scores, correct) : 26;
    assert.equal(ranks[q], expected, `query ${q}`);
  });
});

Deno.test("retrievalMetrics merges repeated captions into one gallery item; label matching", () => {
  // Captions: x, y, x, z. Text embeddings are axes; images lean towards their caption.
  const text = matrixFromRows([[1, 0, 0], [0, 1, 0], [1, 0, 0], [0, 0, 1]]);
  const image = matrixFromRows([[1, 0.2, 0], [0.6, 0.5, 0], [0, 0, 1], [0, 1, 0.1]]);
  const captions = ["x", "y", "x", "z"];
  const m = retrievalMetrics({ image, text, captions, labels: [0, 1, 0, 1] });
  // i2t ranks over gallery {x, y, z}: image0 → x 1st; image1 → y 2nd; image2 → x 3rd; image3 → z 2nd.
  // t2i: x (images 0, 2) → image0 1st; y (image1) → behind image3 → 2nd; z (image3) → behind image2 → 2nd.
  assert.deepEqual(m, {
    i2t_r1: 0.25,
    i2t_r5: 1,
    i2t_r10: 1,
    i2t_median_rank: 2,
    t2i_r1: 1 / 3,
    t2i_r5: 1,
    t2i_r10: 1,
    t2i_median_rank: 2,
    n: 4,
    gallery: 3,
  });
  // By label: x ↔ label 0, y and z ↔ label 1. image3 → y (label 1) 1st; image2 → x 3rd.
  const byLabel = retrievalMetrics({ image, text, captions, labels: [0, 1, 0, 1] }, {
    match: "label",
  });
  assert.equal(byLabel.i2t_r1, 0.5); // images 0 and 3
  // t2i: x → image0 1st; y → image3 (label 1) 1st; z → image3 (0.1) behind image2 (1.0, label 0).
  assert.equal(byLabel.t2i_r1, 2 / 3);
});

Deno.test("retrieval evaluator reads the split's own captions (limit) without leaks", async () => {
  const texts: Record<string, number[]> = { x: [1, 0, 0], y: [0, 1, 0], z: [0, 0, 1] };
  const source = new EmbeddingSource({
    test: {
      embeddings: [[1, 0.2, 0], [0.6, 0.5, 0], [0, 0, 1], [0, 1, 0.1], [5, 5, 5]],
      labels: [0, 1, 0, 1, 2],
      captions: ["x", "y", "x", "z", "never read"],
    },
  }, ["p", "q", "r"]);
  const params = retrievalEntry.schema.parse({ image: "image", text: "text", limit: 4, batch: 3 });
  const before = tf.memory().numTensors;
  const m = await retrievalEntry.create(params).evaluate(embeddingModel(texts), source);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(m.i2t_r1, 0.25);
  assert.equal(m.gallery, 3);
  assert.deepEqual(retrievalEntry.schema.parse({ image: "i", text: "t" }), {
    image: "i",
    text: "t",
    split: "test",
    limit: 1000,
    match: "caption",
    batch: 256,
  });
  assert.equal(
    retrievalEntry.schema.safeParse({ image: "i", text: "t", match: "class" }).success,
    false,
  );
});
