import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { addAll } from "./ops.ts";

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
