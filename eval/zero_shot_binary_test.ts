import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { Batch, BatchOptions } from "../core/types.ts";
import { matrixFromRows } from "./linalg.ts";
import { embeddingModel, EmbeddingSource } from "./testing.ts";
import { binaryPromptMetrics, oneVsRest, zeroShotBinaryEntry } from "./zero_shot_binary.ts";

await tf.setBackend("cpu");

const close = (a: number | undefined, b: number, tol = 1e-9, what = "") =>
  assert.ok(a !== undefined && Math.abs(a - b) <= tol, `${what}: ${a} vs ${b}`);

Deno.test("binaryPromptMetrics: per-finding AUROC, MCC, F1 and macro means by hand", () => {
  // Finding a: positives 0.9, 0.6, 0.4; negatives 0.5, 0.2, 0.1 → pairs won 3+3+2 of 9 = 8/9.
  // Finding b: positives 0.8, 0.7; negatives 0.3, 0.3, 0.75 (row 5 unknown) → (3 + 2)/6 = 5/6.
  // Finding c: no positives → undefined, left out.
  const probs = matrixFromRows([
    [0.9, 0.8, 0.1],
    [0.6, 0.7, 0.2],
    [0.4, 0.3, 0.3],
    [0.5, 0.3, 0.4],
    [0.2, 0.75, 0.5],
    [0.1, 0.2, 0.6],
  ]);
  const targets = matrixFromRows([
    [1, 1, 0],
    [1, 1, 0],
    [1, 0, 0],
    [0, 0, 0],
    [0, 0, 0],
    [0, -1, 0],
  ]);
  const m = binaryPromptMetrics(probs, targets, {
    names: ["a", "b", "c"],
    threshold: 0.5,
    bootstrap: 0,
    seed: 0,
  });
  close(m["auroc/a"], 8 / 9, 1e-12, "auroc a");
  close(m["auroc/b"], 5 / 6, 1e-12, "auroc b (unknown target ignored)");
  assert.equal(m["auroc/c"], undefined);
  // a at ½: tp 2 (0.9, 0.6), fn 1 (0.4), fp 1 (0.5), tn 2 → MCC (4 − 1)/√(3·3·3·3) = 1/3; F1 4/6.
  close(m["mcc/a"], 1 / 3, 1e-12, "mcc a");
  close(m["f1/a"], 2 / 3, 1e-12, "f1 a");
  // b at ½: tp 2, fn 0, fp 1 (0.75), tn 2 → MCC (4 − 0)/√(3·2·2·3) = 2/3; F1 4/5.
  close(m["mcc/b"], 2 / 3, 1e-12, "mcc b");
  close(m["f1/b"], 4 / 5, 1e-12, "f1 b");
  close(m.auroc, (8 / 9 + 5 / 6) / 2, 1e-12, "macro auroc");
  close(m.mcc, 0.5, 1e-12, "macro mcc");
  assert.deepEqual([m.n, m["positives/a"], m["positives/b"], m["positives/c"]], [6, 3, 2, 0]);
  assert.equal(m.auroc_ci_low, undefined, "no CIs without bootstrap");
});

Deno.test("binaryPromptMetrics: bootstrap CIs bracket the estimate and are seeded", () => {
  const rows = 200;
  const probs: number[][] = [], targets: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const t = i % 3 === 0 ? 1 : 0;
    // Overlapping classes: AUROC around 0.8.
    probs.push([((i * 37) % 100) / 100 + 0.35 * t]);
    targets.push([t]);
  }
  const opts = { names: ["x"], threshold: 0.5, bootstrap: 300, seed: 1 };
  const m = binaryPromptMetrics(matrixFromRows(probs), matrixFromRows(targets), opts);
  assert.ok(m["auroc_ci_low/x"]! < m["auroc/x"]! && m["auroc/x"]! < m["auroc_ci_high/x"]!);
  // Standard error of AUROC ≈ 0.03 here, so the 95% interval spans roughly 0.08–0.16.
  const width = m["auroc_ci_high/x"]! - m["auroc_ci_low/x"]!;
  assert.ok(width > 0.06 && width < 0.2, `width ${width}`);
  assert.equal(m.auroc_ci_low, m["auroc_ci_low/x"], "macro CI of one finding = its CI");
  const again = binaryPromptMetrics(matrixFromRows(probs), matrixFromRows(targets), opts);
  assert.deepEqual(again, m);
});

Deno.test("binaryPromptMetrics: the macro CI averages the same findings as its estimate", () => {
  // Finding a: AUROC 1 at any resample; finding b: one positive, ranked last (AUROC 0). A
  // resample that misses b's positive averaged a alone (upper bound 1); those are dropped.
  const rows = 40;
  const probs: number[][] = [], targets: number[][] = [];
  for (let i = 0; i < rows; i++) {
    const a = i < 20 ? 1 : 0, b = i === 0 ? 1 : 0;
    probs.push([a ? 0.9 : 0.1, b ? 0.0 : 0.5 + i / 100]);
    targets.push([a, b]);
  }
  const m = binaryPromptMetrics(matrixFromRows(probs), matrixFromRows(targets), {
    names: ["a", "b"],
    threshold: 0.5,
    bootstrap: 500,
    seed: 3,
  });
  close(m.auroc, 0.5, 1e-12, "macro");
  close(m.auroc_ci_low, 0.5, 1e-12, "macro CI low");
  close(m.auroc_ci_high, 0.5, 1e-12, "macro CI high (was 1)");
});

Deno.test("binaryPromptMetrics ranks by the logits: probabilities rounding to 1 do not tie", () => {
  // σ(100·Δ) for Δ = 0.30 … 0.45 rounds the last two to exactly 1 in float64.
  const deltas = [0.30, 0.35, 0.40, 0.45], targets = matrixFromRows([[0], [1], [0], [1]]);
  const probs = matrixFromRows(deltas.map((d) => [1 / (1 + Math.exp(-100 * d))]));
  assert.equal(probs.data[2], probs.data[3], "the probabilities tie");
  const opts = { names: ["x"], threshold: 0.5, bootstrap: 0, seed: 0 };
  close(binaryPromptMetrics(probs, targets, opts)["auroc/x"], 0.625, 1e-12, "by probability");
  const ranking = matrixFromRows(deltas.map((d) => [100 * d]));
  close(
    binaryPromptMetrics(probs, targets, { ...opts, ranking })["auroc/x"],
    0.75,
    1e-12,
    "logits",
  );
  assert.throws(
    () =>
      binaryPromptMetrics(probs, targets, {
        ...opts,
        ranking: matrixFromRows([[0], [NaN], [1], [2]]),
      }),
    /zero_shot_binary: finding "x": sample 1's score is NaN/,
  );
});

Deno.test("oneVsRest turns class labels into binary targets; unknown label → −1 row", () => {
  assert.deepEqual([...oneVsRest(Int32Array.from([2, 0, -1]), [0, 2]).data], [0, 1, 1, 0, -1, -1]);
});

const TEXTS: Record<string, number[]> = {
  "cat": [1, 0, 0],
  "a cat": [1, 0.2, 0],
  "no cat": [0, 0, 1],
  "dog": [0, 1, 0],
  "a dog": [0.2, 1, 0],
  "no dog": [0, 0, 1],
};
const IMAGES = [[0.9, 0.1, 0.3], [0.2, 0.8, 0.4], [0.5, 0.5, 0.1], [0.1, 0.2, 0.9]];
const LABELS = [0, 1, 0, 1];

Deno.test("zero_shot_binary evaluator: pair probabilities from prompt ensembles, one-vs-rest", async () => {
  const source = new EmbeddingSource({ test: { embeddings: IMAGES, labels: LABELS } }, [
    "cat",
    "dog",
  ]);
  const params = zeroShotBinaryEntry.schema.parse({
    image: "image",
    text: "text",
    positive: ["{}", "a {}"],
    bootstrap: 50,
    scale: 10,
  });
  const before = tf.memory().numTensors;
  const m = await zeroShotBinaryEntry.create(params).evaluate(embeddingModel(TEXTS), source);
  assert.equal(tf.memory().numTensors, before);
  // Independent computation: unit vectors, ensemble = normalised mean of normalised prompts.
  const unit = (v: number[]) => v.map((x) => x / Math.hypot(...v));
  const mean = (a: number[], b: number[]) => unit(a.map((x, i) => x + b[i]!));
  const cos = (a: number[], b: number[]) => unit(a).reduce((s, x, i) => s + x * unit(b)[i]!, 0);
  const pos = [
    mean(unit(TEXTS.cat!), unit(TEXTS["a cat"]!)),
    mean(unit(TEXTS.dog!), unit(TEXTS["a dog"]!)),
  ];
  const prob = IMAGES.map((img) =>
    pos.map((p) => 1 / (1 + Math.exp(-10 * (cos(img, p) - cos(img, [0, 0, 1])))))
  );
  // AUROC by pair counting: cat positives {0, 2}, negatives {1, 3}.
  const count = (f: number, positives: number[], negatives: number[]) => {
    let u = 0;
    for (const i of positives) for (const j of negatives) u += prob[i]![f]! > prob[j]![f]! ? 1 : 0;
    return u / (positives.length * negatives.length);
  };
  close(m["auroc/cat"], count(0, [0, 2], [1, 3]), 1e-12, "cat");
  close(m["auroc/dog"], count(1, [1, 3], [0, 2]), 1e-12, "dog");
  assert.equal(m["auroc/cat"], 1);
  // Dog margins pos − neg: images 1, 3 (dogs) 0.454, −0.745; images 0, 2 −0.117, 0.626 → 1/4.
  assert.equal(m["auroc/dog"], 0.25);
  // Threshold ½ ⇔ positive prompt closer: cat predicted for images 0, 2 (and not 1, 3).
  assert.deepEqual(prob.map((p) => p[0]! >= 0.5), [true, false, true, false]);
  close(m["mcc/cat"], 1, 1e-12, "mcc cat");
  assert.equal(m.n, 4);
  assert.ok(m.auroc_ci_low! <= m.auroc! && m.auroc! <= m.auroc_ci_high!);
});

Deno.test("zero_shot_binary: unknown finding and missing placeholder are explained", async () => {
  const source = new EmbeddingSource({ test: { embeddings: IMAGES, labels: LABELS } }, [
    "cat",
    "dog",
  ]);
  const params = zeroShotBinaryEntry.schema.parse({
    image: "image",
    text: "text",
    findings: ["cow"],
  });
  await assert.rejects(
    zeroShotBinaryEntry.create(params).evaluate(embeddingModel(TEXTS), source),
    /finding "cow" is not a class of data source "embeddings"; expected one of: cat, dog/,
  );
  const bad = zeroShotBinaryEntry.schema.safeParse({ image: "i", text: "t", negative: ["none"] });
  assert.equal(bad.success, false);
  assert.match(JSON.stringify(bad.error?.issues), /needs \\"\{\}\\" where the finding goes/);
  assert.deepEqual(zeroShotBinaryEntry.schema.parse({ image: "i", text: "t" }), {
    image: "i",
    text: "t",
    split: "test",
    positive: ["{}"],
    negative: ["no {}"],
    threshold: 0.5,
    scale: 1,
    bootstrap: 1000,
    seed: 0,
    batch: 256,
  });
});

/** A source with multi-label targets: `labelNames` and a `labels` field `[B·F]` per batch. */
class MultiLabelSource extends EmbeddingSource {
  readonly labelNames = ["cat", "dog"];
  constructor(readonly targets: number[][]) {
    super({ test: { embeddings: IMAGES, labels: IMAGES.map(() => -1) } }, []);
  }
  override async batch(split: string, index: number, options: BatchOptions): Promise<Batch> {
    const b = await super.batch(split, index, options);
    return {
      ...b,
      labels: Float32Array.from([...b.index].flatMap((i) => this.targets[i]!)),
    } as Batch;
  }
}

Deno.test("zero_shot_binary uses multi-label batch targets (NaN = unknown) when the source names them", async () => {
  // Image 2 has both findings; image 3's cat label is unknown.
  const targets = [[1, 0], [0, 1], [1, 1], [NaN, 1]];
  const params = zeroShotBinaryEntry.schema.parse({
    image: "image",
    text: "text",
    bootstrap: 0,
    batch: 3,
  });
  const m = await zeroShotBinaryEntry.create(params).evaluate(
    embeddingModel(TEXTS),
    new MultiLabelSource(targets),
  );
  assert.deepEqual([m["positives/cat"], m["positives/dog"], m.n], [2, 3, 4]);
  // Dog margins (see above, single "{}" template now): images 1, 2, 3 positive, image 0 negative.
  const cos = (a: number[], b: number[]) =>
    a.reduce((s, x, i) => s + x * b[i]!, 0) / (Math.hypot(...a) * Math.hypot(...b));
  const margin = (img: number[], f: number[]) => cos(img, f) - cos(img, [0, 0, 1]);
  const dog = IMAGES.map((img) => margin(img, TEXTS.dog!));
  const won = [1, 2, 3].filter((i) => dog[i]! > dog[0]!).length;
  close(m["auroc/dog"], won / 3, 1e-12, "dog");
  // Cat: positives 0, 2; negative 1 (image 3 unknown, ignored).
  const cat = IMAGES.map((img) => margin(img, TEXTS.cat!));
  close(m["auroc/cat"], [0, 2].filter((i) => cat[i]! > cat[1]!).length / 2, 1e-12, "cat");
  const bad = zeroShotBinaryEntry.schema.parse({ image: "image", text: "text", findings: ["cow"] });
  await assert.rejects(
    zeroShotBinaryEntry.create(bad).evaluate(embeddingModel(TEXTS), new MultiLabelSource(targets)),
    /finding "cow" is not a label of data source "embeddings"; expected one of: cat, dog/,
  );
});
