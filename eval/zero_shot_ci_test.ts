import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { embeddingModel, EmbeddingSource } from "./testing.ts";
import { zeroShotEntry } from "./zero_shot.ts";

await tf.setBackend("cpu");

// Three classes along the axes; prompts "{}" embed to the axis of their class.
const TEXTS = { a: [1, 0, 0], b: [0, 1, 0], c: [0, 0, 1] };
// Class a: 2 of 3 right; class b: 1 of 1; class c: 0 of 2 (both go to a); one unlabelled.
const IMAGES = [
  [1, 0.1, 0],
  [0.9, 0, 0.2],
  [0.2, 1, 0],
  [0.1, 0.9, 0],
  [0.8, 0, 0.5],
  [0.7, 0.3, 0.6],
  [0, 0, 1],
];
const LABELS = [0, 0, 0, 1, 2, 2, -1];

const evaluate = (params: Record<string, unknown>) => {
  const source = new EmbeddingSource(
    { test: { embeddings: IMAGES, labels: LABELS } },
    ["a", "b", "c"],
  );
  const parsed = zeroShotEntry.schema.parse({
    image: "image",
    text: "text",
    templates: ["{}"],
    ...params,
  });
  return zeroShotEntry.create(parsed).evaluate(embeddingModel(TEXTS), source);
};

Deno.test("zero_shot per_class: accuracy per class and their mean (balanced accuracy)", async () => {
  const before = tf.memory().numTensors;
  const m = await evaluate({ per_class: true, batch: 4 });
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(m, {
    top1: 3 / 6, // sample 2 ([0.2, 1, 0], label a) goes to b
    n: 6,
    "acc/a": 2 / 3,
    "acc/b": 1,
    "acc/c": 0,
    mean_per_class: (2 / 3 + 1 + 0) / 3,
  });
});

Deno.test("zero_shot bootstrap: seeded CI around top-1, absent without the option", async () => {
  const m = await evaluate({ bootstrap: 1000, seed: 3 });
  assert.equal(m.top1, 0.5);
  assert.ok(m.top1_ci_low! < 0.5 && m.top1_ci_high! > 0.5);
  // Six Bernoulli(½) outcomes: resampled means are multiples of 1/6, the 2.5%–97.5% quantiles
  // of Binomial(6, ½)/6 are 1/6 and 5/6.
  assert.equal(m.top1_ci_low, 1 / 6);
  assert.equal(m.top1_ci_high, 5 / 6);
  assert.equal(m.top5_ci_low, undefined, "fewer than 5 classes: no top-5");
  assert.deepEqual(await evaluate({ bootstrap: 1000, seed: 3 }), m);
  assert.equal((await evaluate({})).top1_ci_low, undefined);
});
