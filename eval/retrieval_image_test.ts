/**
 * `retrieval` with `match: image` (COCO's and Flickr30k's protocol): rows of
 * one image (equal pixels) count once, each row's caption is a gallery item.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { batchPixelKeys, pixelKey } from "./image_keys.ts";
import { matrixFromRows } from "./linalg.ts";
import { retrievalEntry, retrievalMetrics } from "./retrieval.ts";
import { embeddingModel, EmbeddingSource } from "./testing.ts";

await tf.setBackend("cpu");

Deno.test("pixelKey: equal pixels, equal keys; any changed value, another key", () => {
  const a = Float32Array.of(0, 0.25, 0.5, 1);
  assert.equal(pixelKey(a), pixelKey(Float32Array.from(a)));
  assert.match(pixelKey(a), /^[0-9a-f]{16}$/);
  const b = Float32Array.from(a);
  b[3] = 0.99999994; // the float below 1: one bit
  assert.notEqual(pixelKey(b), pixelKey(a));
  assert.notEqual(pixelKey(Float32Array.of(0, 0.25, 1, 0.5)), pixelKey(a), "order matters");
  // A batch of three samples of 2 values: the first and the third are equal.
  const batch = Float32Array.of(1, 2, 3, 4, 1, 2);
  const keys = batchPixelKeys(batch, 3, 2);
  assert.equal(keys[0], keys[2]);
  assert.notEqual(keys[0], keys[1]);
  assert.deepEqual(batchPixelKeys(batch, 2, 2), keys.slice(0, 2));
});

// Images A = (1, 0) and B = (0, 1), two caption rows each: a1 (1, 0), a2 (0.6, 0.8),
// b1 (0.8, 0.6), b2 (0, 1).
//   A→text: a1 1, b1 0.8, a2 0.6, b2 0: its best caption a1 is first.  B→text: b2 first.
//   a1→image: A (1) first; a2: B 0.8 > A 0.6, rank 2; b1: A 0.8 > B 0.6, rank 2; b2: B first.
const rows = { image: [[1, 0], [1, 0], [0, 1], [0, 1]], keys: ["A", "A", "B", "B"] };
const captions = { a1: [1, 0], a2: [0.6, 0.8], b1: [0.8, 0.6], b2: [0, 1] };
const expected = {
  i2t_r1: 1,
  i2t_r5: 1,
  i2t_r10: 1,
  i2t_median_rank: 1,
  t2i_r1: 0.5,
  t2i_r5: 1,
  t2i_r10: 1,
  t2i_median_rank: 1.5,
  n: 2,
  gallery: 4,
};

Deno.test("retrievalMetrics with match image: distinct images against every caption row", () => {
  const m = retrievalMetrics({
    image: matrixFromRows(rows.image),
    text: matrixFromRows(Object.values(captions)),
    captions: Object.keys(captions),
    labels: [-1, -1, -1, -1],
    imageKeys: rows.keys,
  }, { match: "image" });
  assert.deepEqual(m, expected);
  assert.throws(
    () =>
      retrievalMetrics({
        image: matrixFromRows(rows.image),
        text: matrixFromRows(Object.values(captions)),
        captions: Object.keys(captions),
        labels: [-1, -1, -1, -1],
      }, { match: "image" }),
    /match "image" needs a pixel key per row \(0 for 4 captions\)/,
  );
});

Deno.test("retrieval evaluator, match image: repeated pixels are one image (batches split rows)", async () => {
  const source = new EmbeddingSource({
    test: { embeddings: rows.image, labels: [-1, -1, -1, -1], captions: Object.keys(captions) },
  }, []);
  const params = retrievalEntry.schema.parse({
    image: "image",
    text: "text",
    match: "image",
    batch: 3, // image A's rows in one batch, B's across two
  });
  const before = tf.memory().numTensors;
  const m = await retrievalEntry.create(params).evaluate(embeddingModel(captions), source);
  assert.equal(tf.memory().numTensors, before);
  assert.deepEqual(m, expected);
  // The same split by caption string: four images (one per row), each with one caption.
  const byCaption = await retrievalEntry.create(
    retrievalEntry.schema.parse({ image: "image", text: "text" }),
  ).evaluate(embeddingModel(captions), source);
  assert.deepEqual([byCaption.n, byCaption.gallery], [4, 4]);
  assert.ok(byCaption.i2t_r1! < 1, "a row of A whose caption is a2 misses it at rank 1");
});
