import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Center } from "./center.ts";

await tf.setBackend("cpu");

const train = { training: true, step: 0, seed: 0 };
const data = (t: tf.Tensor) => Array.from(t.dataSync());
const near = (a: number[], b: number[]) =>
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) < 1e-6, `${i}: ${x} vs ${b[i]}`));

Deno.test("center: subtracts the running mean of training batches; a skipped step keeps it", () => {
  const center = new Center({ dim: 3, momentum: 0.9 }, "c");
  const x = tf.tensor3d([[[1, 2, 3], [3, 2, 1]], [[5, 0, 1], [-1, 4, 3]]]); // mean over rows: [2, 2, 2]
  const out = center.forward([x], train);
  assert.deepEqual(data(out), data(x), "the centre starts at 0");
  center.afterStep(tf.tensor1d([1, 1, 0]));
  near(data(center.buffers[0]!.variable), [0.2, 0.2, 0.2]); // 0.9·0 + 0.1·2
  center.forward([x], train);
  center.afterStep(tf.tensor1d([1, 0, 0])); // skipped
  near(data(center.buffers[0]!.variable), [0.2, 0.2, 0.2]);
  center.forward([tf.tensor2d([[4, 4, 4]])], train);
  center.afterStep();
  near(data(center.buffers[0]!.variable), [0.58, 0.58, 0.58]); // 0.9·0.2 + 0.1·4
  // Inference and a teacher's forward keep nothing to fold in.
  near(data(center.forward([tf.tensor1d([1, 1, 1])], { ...train, training: false })), [
    0.42,
    0.42,
    0.42,
  ]);
  center.forward([x], { ...train, statistics: false });
  center.afterStep();
  near(data(center.buffers[0]!.variable), [0.58, 0.58, 0.58]);
  // What the compiler's dry runs leave is dropped before training.
  center.forward([x], train);
  center.dropBatchStatistics();
  center.afterStep();
  near(data(center.buffers[0]!.variable), [0.58, 0.58, 0.58]);
  assert.equal(center.buffers[0]!.name, "c.center");
  assert.throws(
    () => center.forward([tf.zeros([2, 4])], train),
    /node "c" \(center\) expects scores \[\.\.\., 3\]/,
  );
  assert.throws(() => new Center({ dim: 3, momentum: 1 }, "c"), /momentum must be in \[0, 1\)/);
  center.dispose();
});

Deno.test("center: under train.accumulate the mean over every micro-batch's rows, once per update", () => {
  const center = new Center({ dim: 2, momentum: 0.5 }, "c");
  const at = (micro: number) => ({ ...train, micro });
  center.forward([tf.tensor2d([[100, 100]])], at(0)); // a step that never ended: dropped
  center.forward([tf.tensor2d([[1, 2], [3, 4]])], at(0));
  center.forward([tf.tensor2d([[8, 0]])], at(1)); // rows of unequal micro-batches weigh alike
  center.afterStep();
  near(data(center.buffers[0]!.variable), [2, 1]); // 0.5·0 + 0.5·mean([1, 2], [3, 4], [8, 0])
  // One micro-batch: its mean, as without accumulation.
  center.forward([tf.tensor2d([[4, 5]])], at(0));
  center.afterStep();
  near(data(center.buffers[0]!.variable), [3, 3]);
  center.dispose();
});
