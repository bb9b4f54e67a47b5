import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import { drawShots } from "./few_shot.ts";
import { matrixFromRows } from "./linalg.ts";
import { holdOut, linearProbeEntry } from "./linear_probe.ts";
import { embeddingModel, EmbeddingSource } from "./testing.ts";

await tf.setBackend("cpu");

/** 30 samples: sample i has feature [i] and label i % 3. */
const pool = {
  x: matrixFromRows(Array.from({ length: 30 }, (_, i) => [i])),
  y: Int32Array.from({ length: 30 }, (_, i) => i % 3),
};

Deno.test("drawShots: K distinct samples of every class, seeded per draw", () => {
  const a = drawShots(pool, { shots: 4, classes: 3, seed: 0, draw: 0 });
  assert.deepEqual([...a.y], [0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2]);
  const ids = [...a.x.data];
  assert.equal(new Set(ids).size, 12, "no sample twice");
  ids.forEach((id, k) => assert.equal(id % 3, a.y[k], "each feature keeps its label"));
  assert.deepEqual([...drawShots(pool, { shots: 4, classes: 3, seed: 0, draw: 0 }).x.data], ids);
  // Five draws, five different sets (as sets, not orders), pairwise.
  const sets = [0, 1, 2, 3, 4].map((draw) =>
    [...drawShots(pool, { shots: 4, classes: 3, seed: 0, draw }).x.data].sort((p, q) => p - q)
      .join()
  );
  assert.equal(new Set(sets).size, 5, `draws ${sets.join(" | ")}`);
  assert.notDeepEqual([...drawShots(pool, { shots: 4, classes: 3, seed: 1, draw: 0 }).x.data], ids);
  // Every sample of a class: all 10, in some order.
  const all = drawShots(pool, { shots: 10, classes: 3, seed: 0, draw: 0 });
  assert.deepEqual([...all.x.data].sort((p, q) => p - q), [...pool.x.data]);
});

Deno.test("drawShots names the class that has too few samples and the way out", () => {
  const y = Int32Array.from(pool.y);
  y.fill(0, 0, 9); // class 1 and 2 lose their first three samples each
  assert.throws(
    () =>
      drawShots({ x: pool.x, y }, {
        shots: 8,
        classes: 3,
        seed: 0,
        draw: 0,
        classNames: ["zero", "one", "two"],
      }),
    /shots 8 needs 8 labelled training samples of every class, but class "one" has 7 among the training samples read \(validation excluded\); raise train_limit or lower shots/,
  );
  assert.throws(
    () =>
      drawShots({ x: pool.x, y: Int32Array.from(pool.y, (l) => l + 1) }, {
        shots: 1,
        classes: 3,
        seed: 0,
        draw: 0,
      }),
    /label 3 of training sample 2 is outside \[0, 3\)/,
  );
});

Deno.test("drawShots after holdOut: shots never come from the validation samples", () => {
  const [rest, val] = holdOut(pool, { fraction: 0.3, seed: 4 });
  const held = new Set(val.x.data);
  for (let draw = 0; draw < 5; draw++) {
    const drawn = drawShots(rest, { shots: 5, classes: 3, seed: 4, draw });
    assert.ok([...drawn.x.data].every((id) => !held.has(id)), `draw ${draw}`);
  }
});

/** Three classes: noisy clusters along the axes of 3-D (hard enough that the shots matter). */
function clusters(n: number, seed: number, noise: number) {
  const rng = new Rng(seed);
  const labels = Array.from({ length: n }, (_, i) => i % 3);
  const embeddings = labels.map((l) =>
    [0, 1, 2].map((k) => (k === l ? 1 : 0) + noise * rng.normal())
  );
  return { embeddings, labels };
}

Deno.test("linear_probe with shots: K per class, mean and spread over draws, validation apart", async () => {
  const source = new EmbeddingSource(
    { train: clusters(300, 1, 0.8), test: clusters(300, 2, 0.8) },
    ["a", "b", "c"],
  );
  const parse = (extra: object) =>
    linearProbeEntry.schema.parse({ image: "image", weight_decays: [0.01], steps: 100, ...extra });
  const m = await linearProbeEntry.create(parse({ shots: 2, repeats: 4 }))
    .evaluate(embeddingModel({}), source);
  assert.deepEqual([m.shots, m.repeats, m.n_train, m.n_val, m.n], [2, 4, 6, 30, 300]);
  assert.ok(m.top1_std! > 0, "two shots per class: the draws disagree");
  const full = await linearProbeEntry.create(parse({})).evaluate(embeddingModel({}), source);
  assert.equal(full.n_train, 270);
  assert.ok(full.top1! > m.top1!, `all 270 (${full.top1}) beat 2 per class (${m.top1})`);
  const one = await linearProbeEntry.create(parse({ shots: 2, repeats: 1 }))
    .evaluate(embeddingModel({}), source);
  assert.equal(one.top1_std, undefined, "no spread from one draw");
  const again = await linearProbeEntry.create(parse({ shots: 2 })).evaluate(
    embeddingModel({}),
    source,
  );
  assert.equal(again.repeats, 5);
  assert.equal(again.weight_decay, 0.01, "the only λ swept is the one chosen");
});

Deno.test("linear_probe with shots and an explicit val split", async () => {
  const source = new EmbeddingSource(
    { train: clusters(60, 3, 0.3), val: clusters(30, 4, 0.3), test: clusters(30, 5, 0.3) },
    ["a", "b", "c"],
  );
  const params = linearProbeEntry.schema.parse({
    image: "image",
    val: "val",
    shots: 3,
    repeats: 2,
    weight_decays: [0, 0.1],
    steps: 100,
  });
  const m = await linearProbeEntry.create(params).evaluate(embeddingModel({}), source);
  assert.deepEqual([m.n_train, m.n_val, m.n, m.shots, m.repeats], [9, 30, 30, 3, 2]);
  assert.ok(m.top1! >= 0.9, `well-separated clusters: ${m.top1}`);
  assert.equal(m.converged, 1, "every draw's chosen fit converged");
});

Deno.test("linear_probe: repeats without shots, and val naming the training split, are refused", () => {
  const result = linearProbeEntry.schema.safeParse({ image: "image", repeats: 3 });
  assert.equal(result.success, false);
  assert.deepEqual(result.error!.issues[0]!.path, ["repeats"]);
  assert.match(result.error!.issues[0]!.message, /repeats needs shots/);
  const same = linearProbeEntry.schema.safeParse({ image: "image", val: "train" });
  assert.equal(same.success, false);
  assert.deepEqual(same.error!.issues[0]!.path, ["val"]);
  assert.match(same.error!.issues[0]!.message, /val names the training split/);
  assert.equal(
    linearProbeEntry.schema.safeParse({ image: "image", train: "dev", val: "train" }).success,
    true,
  );
});
