import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import { knnEntry, knnPredict } from "./knn.ts";
import { matrixFromRows } from "./linalg.ts";
import { holdOut, linearProbeEntry } from "./linear_probe.ts";
import { embeddingModel, EmbeddingSource } from "./testing.ts";

await tf.setBackend("cpu");

const angle = (
  deg: number,
  r = 1,
) => [r * Math.cos((deg * Math.PI) / 180), r * Math.sin((deg * Math.PI) / 180)];

Deno.test("knnPredict: majority of the k most cosine-similar, ties by summed similarity", async () => {
  // Train: class 0 at 0°, 10°, 20°; class 1 at 80°, 90°; class 2 at 180°. Lengths vary (cosine ignores them).
  const train = {
    x: matrixFromRows([
      angle(0, 3),
      angle(10),
      angle(20, 0.5),
      angle(80, 2),
      angle(90),
      angle(180),
    ]),
    y: [0, 0, 0, 1, 1, 2],
  };
  const queries = matrixFromRows([angle(5), angle(60), angle(45), angle(170), angle(52)]);
  // k = 3: 5° → {0,10,20} → 0; 60° → {80, 90, 20} → 1; 45° → {20, 80, 10} → 0 (2 votes);
  // 170° → {180, 90, 80} → 1 (2 votes); 52° → {80 (28°), 20 (32°), 90 (38°)} → 1.
  const before = tf.memory().numTensors;
  assert.deepEqual([...await knnPredict(train, queries, { k: 3, classes: 3 })], [0, 1, 0, 1, 1]);
  // k = 2: 45° → {20 (cos 25°), 80 (cos 35°)} tie 1–1; class 0 has the larger similarity → 0.
  // 55° → {80 (cos 25°), 20 (cos 35°)} → 1.
  assert.deepEqual([
    ...await knnPredict(train, matrixFromRows([angle(45), angle(55)]), { k: 2, classes: 3 }),
  ], [0, 1]);
  // k larger than the bank is capped: all six vote → class 0 (3 votes).
  assert.deepEqual([
    ...await knnPredict(train, matrixFromRows([angle(100)]), { k: 50, classes: 3 }),
  ], [0]);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("knnPredict agrees with a brute-force vote on random data", async () => {
  const rng = new Rng(2);
  const rows = (n: number) =>
    Array.from({ length: n }, () => [rng.normal(), rng.normal(), rng.normal()]);
  const x = rows(40), y = x.map(() => rng.int(4)), q = rows(25);
  const got = await knnPredict({ x: matrixFromRows(x), y }, matrixFromRows(q), {
    k: 5,
    classes: 4,
  });
  const cos = (a: number[], b: number[]) =>
    a.reduce((s, v, i) => s + v * b[i]!, 0) / (Math.hypot(...a) * Math.hypot(...b));
  q.forEach((query, i) => {
    const nearest = x.map((v, j) => ({ s: cos(query, v), l: y[j]! })).sort((a, b) => b.s - a.s)
      .slice(0, 5);
    const score = [0, 1, 2, 3].map((c) => {
      const mine = nearest.filter((n) => n.l === c);
      return mine.length * 1e3 + mine.reduce((s, n) => s + n.s, 0);
    });
    assert.equal(got[i], score.indexOf(Math.max(...score)), `query ${i}`);
  });
});

/** Two well-separated clusters per class in 3-D, plus a noise dimension. */
function clusters(n: number, seed: number): { embeddings: number[][]; labels: number[] } {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const embeddings = labels.map((l) =>
    [0, 1, 2].map((k) => (k === l ? 2 : 0) + 0.4 * rng.normal())
  );
  return { embeddings, labels };
}

Deno.test("linear_probe: sweep on a held-out validation part, scored on test", async () => {
  const source = new EmbeddingSource({ train: clusters(90, 1), test: clusters(30, 2) }, [
    "a",
    "b",
    "c",
  ]);
  const params = linearProbeEntry.schema.parse({
    image: "image",
    weight_decays: [0, 0.01, 10],
    steps: 150,
    val_fraction: 0.2,
  });
  const before = tf.memory().numTensors;
  const m = await linearProbeEntry.create(params).evaluate(embeddingModel({}), source);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual([m.n_train, m.n_val, m.n], [72, 18, 30]);
  assert.equal(m.top1, 1);
  assert.equal(m.val_top1, 1);
  // Every λ separates these clusters, so the smallest of the tied best is kept.
  assert.equal(m.weight_decay, 0);
  assert.deepEqual(Object.keys(m).filter((k) => k.startsWith("val_top1/")), [
    "val_top1/0",
    "val_top1/0.01",
    "val_top1/10",
  ]);
});

Deno.test("linear_probe: an explicit val split; errors name what is missing", async () => {
  const source = new EmbeddingSource({
    train: clusters(30, 3),
    val: clusters(12, 4),
    test: clusters(9, 5),
  }, ["a", "b", "c"]);
  const params = linearProbeEntry.schema.parse({
    image: "image",
    val: "val",
    weight_decays: [1e-3],
    steps: 100,
  });
  const m = await linearProbeEntry.create(params).evaluate(embeddingModel({}), source);
  assert.deepEqual([m.n_train, m.n_val, m.n, m.top1], [30, 12, 9, 1]);
  const missing = linearProbeEntry.schema.parse({ image: "image", val: "dev" });
  await assert.rejects(
    linearProbeEntry.create(missing).evaluate(embeddingModel({}), source),
    /linear_probe: split "dev" is not in data source "embeddings"; expected one of: train, val, test/,
  );
});

Deno.test("holdOut is seeded and keeps every sample exactly once", () => {
  const f = {
    x: matrixFromRows(Array.from({ length: 10 }, (_, i) => [i])),
    y: Int32Array.from({ length: 10 }, (_, i) => i % 2),
  };
  const [a, b] = holdOut(f, { fraction: 0.3, seed: 1 });
  assert.equal(b.y.length, 3);
  assert.deepEqual([...a.x.data, ...b.x.data].sort((p, q) => p - q), [
    0,
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    8,
    9,
  ]);
  assert.deepEqual(holdOut(f, { fraction: 0.3, seed: 1 })[1].x.data, b.x.data);
  assert.throws(
    () => holdOut({ x: matrixFromRows([[1]]), y: Int32Array.of(0) }, { fraction: 0.5, seed: 0 }),
    /leave none/,
  );
});

Deno.test("knn evaluator: clusters are classified, k reported, unlabelled samples skipped", async () => {
  const test = clusters(12, 7);
  test.labels[0] = -1;
  const source = new EmbeddingSource({ train: clusters(60, 6), test }, ["a", "b", "c"]);
  const params = knnEntry.schema.parse({ image: "image", k: 5, batch: 7 });
  const m = await knnEntry.create(params).evaluate(embeddingModel({}), source);
  assert.deepEqual(m, { top1: 1, k: 5, n: 11, n_train: 60 });
  assert.deepEqual(knnEntry.schema.parse({ image: "i" }), {
    image: "i",
    train: "train",
    split: "test",
    k: 20,
    train_limit: 10000,
    batch: 256,
  });
});

Deno.test("knnPredict dino: Σ exp(sim / T) per class, as DINO's weighted kNN", async () => {
  const rng = new Rng(5);
  const rows = (n: number) =>
    Array.from({ length: n }, () => [rng.normal(), rng.normal(), rng.normal()]);
  const x = rows(60), y = x.map(() => rng.int(4)), q = rows(40);
  const cos = (a: number[], b: number[]) =>
    a.reduce((s, v, i) => s + v * b[i]!, 0) / (Math.hypot(...a) * Math.hypot(...b));
  for (const temperature of [0.07, 0.5]) {
    const got = await knnPredict({ x: matrixFromRows(x), y }, matrixFromRows(q), {
      k: 10,
      classes: 4,
      weighting: { kind: "dino", temperature },
    });
    q.forEach((query, i) => {
      const nearest = x.map((v, j) => ({ s: cos(query, v), l: y[j]! }))
        .sort((a, b) => b.s - a.s).slice(0, 10);
      const score = [0, 1, 2, 3].map((c) =>
        nearest.filter((n) => n.l === c).reduce((s, n) => s + Math.exp(n.s / temperature), 0)
      );
      assert.equal(got[i], score.indexOf(Math.max(...score)), `T ${temperature}, query ${i}`);
    });
  }
  // Two near neighbours of class 1 outweigh three far ones of class 0 at a low temperature.
  const train = {
    x: matrixFromRows([angle(0), angle(2), angle(60), angle(62), angle(64)]),
    y: [1, 1, 0, 0, 0],
  };
  const query = matrixFromRows([angle(1)]);
  assert.deepEqual([...await knnPredict(train, query, { k: 5, classes: 2 })], [0]);
  const dino = { kind: "dino" as const, temperature: 0.07 };
  assert.deepEqual([...await knnPredict(train, query, { k: 5, classes: 2, weighting: dino })], [1]);
});

Deno.test("knn and linear_probe refuse to score the split they learn from", () => {
  assert.throws(
    () => knnEntry.schema.parse({ image: "i", split: "train" }),
    /a query would find itself among its neighbours/,
  );
  assert.throws(
    () => linearProbeEntry.schema.parse({ image: "i", split: "train" }),
    /scored on samples it was trained on/,
  );
  assert.throws(
    () => knnEntry.schema.parse({ image: "i", temperature: 0.1 }),
    /temperature applies to weighting: dino/,
  );
  const parsed = knnEntry.schema.parse({ image: "i", weighting: "dino" }) as { weighting: string };
  assert.equal(parsed.weighting, "dino");
});
