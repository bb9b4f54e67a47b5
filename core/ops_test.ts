import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { addAll, repeatLeading } from "./ops.ts";

Deno.test("addAll: sums any number of tensors (tf.addN drops inputs past 7 on WebGPU)", async () => {
  await tf.setBackend("cpu");
  for (const n of [1, 2, 6, 7, 8, 20, 50]) {
    const xs = Array.from({ length: n }, (_, i) => tf.tensor1d([i + 1, -(i + 1)]));
    const sum = addAll(xs);
    assert.deepEqual(Array.from(await sum.data()), [n * (n + 1) / 2, -n * (n + 1) / 2]);
    tf.dispose([...xs, sum]);
  }
  assert.throws(() => addAll([]), /at least one/);
});

Deno.test("repeatLeading: tf.tile's values, a gradient of one reduction whatever the count", async () => {
  await tf.setBackend("cpu");
  const x = tf.tensor2d([[1, 2, 3]]);
  const w = tf.range(0, 5 * 3).reshape([5, 1, 3]);
  const y = repeatLeading(x, 5);
  assert.deepEqual(y.shape, [5, 1, 3]);
  assert.deepEqual(await y.array(), await tf.tile(tf.expandDims(x, 0), [5, 1, 1]).array());
  const dx = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(repeatLeading(v, 5), w)))(x);
  assert.deepEqual(await dx.array(), [[
    0 + 3 + 6 + 9 + 12,
    1 + 4 + 7 + 10 + 13,
    2 + 5 + 8 + 11 + 14,
  ]]);
  const kernels: string[] = [];
  for (const times of [2, 64]) {
    const profile = await tf.profile(() =>
      tf.grad((v: tf.Tensor) => tf.sum(repeatLeading(v, times)))(x)
    );
    kernels.push(profile.kernelNames.join(","));
  }
  assert.equal(kernels[0], kernels[1], "the same kernels for 2 copies as for 64");
  assert.throws(() => repeatLeading(x, 0), /times must be a positive integer, got 0/);
  tf.dispose([x, w, y, dx]);
});
