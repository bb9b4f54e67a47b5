import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { FeatureQueue } from "./feature_queue.ts";
import { queueSlots } from "./queue_ring.ts";

await tf.setBackend("cpu");

const train = { training: true, step: 0, seed: 0 };
const rowsOf = (t: tf.Tensor) => t.arraySync() as number[][];
const progress = (u: number) => ({ updates: () => u, total: 100 });
const near = (a: number[][], b: number[][]) =>
  a.forEach((row, i) =>
    row.forEach((x, k) =>
      assert.ok(Math.abs(x - b[i]![k]!) < 1e-6, `${i},${k}: ${x} vs ${b[i]![k]}`)
    )
  );

Deno.test("queueSlots: each step's rows after the last, wrapping; with N > K the last K stay", () => {
  // K = 6, N = 2: updates 1, 2, 3 fill slots 0–1, 2–3, 4–5; update 4 wraps to 0–1.
  assert.deepEqual([...queueSlots(6, 2, 1)], [6, 7, 2, 3, 4, 5]);
  assert.deepEqual([...queueSlots(6, 2, 3)], [0, 1, 2, 3, 6, 7]);
  assert.deepEqual([...queueSlots(6, 2, 4)], [6, 7, 2, 3, 4, 5]);
  // N = 4 of K = 6 at update 2: pointer 4, rows 0–1 in slots 4–5, rows 2–3 wrap to 0–1.
  assert.deepEqual([...queueSlots(6, 4, 2)], [8, 9, 2, 3, 6, 7]);
  // N = 5 of K = 3: slots 0–2 take rows 3, 4, 2 (the last row to reach each).
  assert.deepEqual([...queueSlots(3, 5, 1)], [6, 7, 5]);
});

Deno.test("queue: random unit rows from the seed, the step's rows after each applied update", () => {
  const queue = new FeatureQueue({ size: 4, dim: 3, seed: 7 }, "q");
  const again = new FeatureQueue({ size: 4, dim: 3, seed: 7 }, "q");
  const start = rowsOf(queue.buffers[0]!.variable);
  assert.deepEqual(start, rowsOf(again.buffers[0]!.variable), "seeded");
  for (const row of start) assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-6, "unit rows");
  assert.equal(queue.buffers[0]!.name, "q.queue");
  assert.equal(queue.parameters.length, 0);
  // The output is the queue before the step; [V, B, D] input is taken as V·B rows.
  const x = tf.tensor3d([[[1, 2, 3]], [[4, 5, 6]]]);
  near(rowsOf(queue.forward([x], train)), start);
  queue.afterStep(tf.tensor1d([1, 1, 0]), progress(1));
  // Written exactly (PyTorch's lerp at weight 1), the other slots untouched.
  assert.deepEqual(rowsOf(queue.buffers[0]!.variable), [[1, 2, 3], [4, 5, 6], start[2], start[3]]);
  assert.equal(queue.buffers[0]!.averaged, false, "train.ema leaves the queue alone");
  // A skipped step writes nothing; the next applied one writes after the last.
  queue.forward([tf.tensor2d([[7, 8, 9], [0, 1, 0]])], train);
  queue.afterStep(tf.tensor1d([1, 0, 0]), progress(1));
  near(rowsOf(queue.buffers[0]!.variable), [[1, 2, 3], [4, 5, 6], start[2]!, start[3]!]);
  queue.forward([tf.tensor2d([[7, 8, 9], [0, 1, 0]])], train);
  queue.afterStep(undefined, progress(2));
  near(rowsOf(queue.buffers[0]!.variable), [[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 1, 0]]);
  // Inference, a teacher's forward and the compiler's dry runs leave nothing to write.
  queue.forward([x], { ...train, training: false });
  queue.afterStep(undefined, progress(3));
  queue.forward([x], { ...train, statistics: false });
  queue.afterStep(undefined, progress(3));
  queue.forward([x], train);
  queue.dropBatchStatistics();
  queue.afterStep(undefined, progress(3));
  near(rowsOf(queue.buffers[0]!.variable), [[1, 2, 3], [4, 5, 6], [7, 8, 9], [0, 1, 0]]);
  assert.throws(
    () => queue.forward([tf.zeros([2, 4])], train),
    /node "q" \(queue\) expects features \[\.\.\., 3\], got \[2, 4\]/,
  );
  queue.dispose();
  again.dispose();
});

Deno.test("queue: under train.accumulate every micro-batch's rows, in order; a failed step's dropped", () => {
  const queue = new FeatureQueue({ size: 6, dim: 1, seed: 1 }, "q");
  const at = (micro: number) => ({ ...train, micro });
  const start = rowsOf(queue.buffers[0]!.variable);
  queue.forward([tf.tensor2d([[9]])], at(0)); // a step that never reached afterStep
  queue.forward([tf.tensor2d([[1], [2]])], at(0));
  queue.forward([tf.tensor2d([[3], [4]])], at(1));
  queue.afterStep(undefined, progress(1));
  assert.deepEqual(rowsOf(queue.buffers[0]!.variable), [[1], [2], [3], [4], start[4], start[5]]);
  // Update 2 of 4 rows a step: slots 4, 5, then 0, 1.
  queue.forward([tf.tensor2d([[5], [6]])], at(0));
  queue.forward([tf.tensor2d([[7], [8]])], at(1));
  queue.afterStep(undefined, progress(2));
  assert.deepEqual(rowsOf(queue.buffers[0]!.variable), [[7], [8], [3], [4], [5], [6]]);
  queue.dispose();
});
