import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { captionGroupIds, GroupQueue } from "./group_queue.ts";
import { FeatureQueue } from "./feature_queue.ts";

await tf.setBackend("cpu");

const train = { training: true, step: 0, seed: 0 };
const progress = (u: number) => ({ updates: () => u, total: 100 });
const ints = (t: tf.Tensor) => [...t.dataSync()];

Deno.test("captionGroupIds: equal captions, equal ids in every batch; 24 bits", () => {
  const a = captionGroupIds(["a 3", "a 7", "a 3"]);
  const b = captionGroupIds(["a 7", "b"]);
  assert.equal(a[0], a[2]);
  assert.notEqual(a[0], a[1]);
  assert.equal(b[0], a[1], "the same caption meets its id in another batch");
  for (const id of [...a, ...b]) assert.ok(id >= 0 && id < 2 ** 24 && Number.isInteger(id));
});

Deno.test("group_queue: [B + K] ids, written where a feature queue of the same size writes its rows", () => {
  const ids = new GroupQueue(5, "g");
  const rows = new FeatureQueue({ size: 5, dim: 1, seed: 0 }, "q");
  assert.equal(ids.buffers[0]!.name, "g.queue");
  assert.equal(ids.buffers[0]!.averaged, false, "train.ema leaves it alone");
  assert.equal(ids.parameters.length, 0);
  // K = 5, N = 3: update 1 writes slots 0–2, update 2 slots 3, 4, 0, update 3 slots 1–3.
  const steps = [[4, -1, 2], [7, 4, 4], [1, 2, 3]];
  const after = [[4, -1, 2, -1, -1], [4, -1, 2, 7, 4], [4, 1, 2, 3, 4]];
  let before = [-1, -1, -1, -1, -1];
  steps.forEach((labels, i) => {
    const out = ids.forward([tf.tensor1d(labels, "int32")], train);
    assert.equal(out.dtype, "int32");
    assert.deepEqual(ints(out), [...labels, ...before], `step ${i + 1}: batch, then the queue`);
    rows.forward([tf.tensor2d(labels, [3, 1])], train);
    ids.afterStep(undefined, progress(i + 1));
    rows.afterStep(undefined, progress(i + 1));
    before = ints(ids.buffers[0]!.variable);
    assert.deepEqual(before, after[i], `step ${i + 1}: slots`);
    // Once every slot is written, the feature queue of the same size holds the same values.
    if (i > 0) assert.deepEqual(ints(rows.buffers[0]!.variable), before, `step ${i + 1}: rows`);
  });
  const expected = after[2];
  // A skipped step (report ok = 0) writes nothing; inference and teachers keep nothing.
  ids.forward([tf.tensor1d([9, 9, 9], "int32")], train);
  ids.afterStep(tf.tensor1d([1, 0, 0]), progress(4));
  ids.forward([tf.tensor1d([8, 8, 8], "int32")], { ...train, training: false });
  ids.afterStep(undefined, progress(4));
  ids.forward([tf.tensor1d([8, 8, 8], "int32")], { ...train, statistics: false });
  ids.afterStep(undefined, progress(4));
  assert.deepEqual(ints(ids.buffers[0]!.variable), expected);
  ids.dispose();
  rows.dispose();
});

Deno.test("group_queue: captions are hashed, other inputs are refused with the accepted forms", () => {
  const queue = new GroupQueue(4, "g");
  const captions = ["a photo of 3", "a photo of 5", "a photo of 3"];
  const out = ints(queue.forward([captions], train));
  assert.deepEqual(out, [...captionGroupIds(captions), -1, -1, -1, -1]);
  queue.afterStep(undefined, progress(1));
  const next = ints(queue.forward([["a photo of 5"]], train));
  assert.equal(next[0], out[1], "equal captions meet across batches");
  assert.deepEqual(next.slice(1), [...out.slice(0, 3), -1]);
  queue.dropBatchStatistics();
  for (
    const [bad, got] of [
      [tf.tensor1d([1.5, 2]), "float32 \\[2\\]"],
      [tf.tensor2d([[1]], [1, 1], "int32"), "int32 \\[1, 1\\]"],
      [[1, 2], "a list that is not all strings"],
    ] as const
  ) {
    assert.throws(
      () => queue.forward([bad as tf.Tensor], train),
      new RegExp(
        `node "g" \\(group_queue\\) expects group ids: batch.label \\(int32 \\[B\\]\\) or ` +
          `batch.caption \\(B strings\\), got ${got}`,
      ),
    );
  }
  queue.dispose();
});
