import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { embedRows } from "./embedding.ts";

async function lookupAndGrad(): Promise<{ value: number[][]; grad: number[][] }> {
  const init = tf.tensor2d([[1, 2], [3, 4], [5, 6]]);
  const table = tf.variable(init);
  init.dispose();
  const rows = tf.tensor1d([2, 0, 2], "int32");
  const { value: loss, grads } = tf.variableGrads(() =>
    tf.sum(
      tf.mul(embedRows(table, rows), tf.tensor2d([[1, 10], [100, 1000], [2, 20]])),
    ) as tf.Scalar
  );
  const looked = tf.tidy(() => embedRows(table, rows));
  const out = {
    value: (await looked.array()) as number[][],
    grad: (await grads[table.name]!.array()) as number[][],
  };
  tf.dispose([table, rows, loss, looked, ...Object.values(grads)]);
  return out;
}

Deno.test("embedRows: table[rows]; the gradient sums repeated rows (CPU and WASM)", async () => {
  for (const backend of ["cpu", "wasm"] as const) {
    await initBackend(backend);
    const before = tf.memory().numTensors;
    const { value, grad } = await lookupAndGrad();
    assert.deepEqual(value, [[5, 6], [1, 2], [5, 6]], backend);
    // Row 2 is read twice: its gradient is the sum of both upstream rows.
    assert.deepEqual(grad, [[100, 1000], [0, 0], [3, 30]], backend);
    assert.equal(tf.memory().numTensors, before, `${backend}: no leak`);
  }
  await tf.setBackend("cpu");
});
