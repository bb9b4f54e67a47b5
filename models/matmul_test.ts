import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { matmul } from "./matmul.ts";

function close(a: tf.Tensor, b: tf.Tensor, tol = 1e-4): void {
  assert.deepEqual(a.shape, b.shape);
  const diff = tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]!;
  assert.ok(diff < tol, `max |a − b| = ${diff} ≥ ${tol}`);
}

const cases: { a: number[]; b: number[]; tA?: boolean; tB?: boolean }[] = [
  { a: [5, 3], b: [3, 4] },
  { a: [3, 5], b: [3, 4], tA: true },
  { a: [5, 3], b: [4, 3], tB: true },
  { a: [3, 5], b: [4, 3], tA: true, tB: true },
  { a: [2, 5, 3], b: [2, 3, 7] },
  { a: [2, 5, 3], b: [2, 7, 3], tB: true },
  { a: [2, 3, 5], b: [2, 3, 7], tA: true },
];

Deno.test("matmul: values and gradients equal tf.matMul for every transpose variant", async () => {
  await tf.setBackend("cpu");
  for (const c of cases) {
    const a = tf.randomNormal(c.a, 0, 1, "float32", 1);
    const b = tf.randomNormal(c.b, 0, 1, "float32", 2);
    const w = tf.randomNormal(tf.matMul(a, b, c.tA, c.tB).shape, 0, 1, "float32", 3);
    const ours = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(matmul(x, y, { transposeA: c.tA, transposeB: c.tB }), w))
    )([a, b]);
    const stock = tf.grads((x: tf.Tensor, y: tf.Tensor) =>
      tf.sum(tf.mul(tf.matMul(x, y, c.tA, c.tB), w))
    )([a, b]);
    close(matmul(a, b, { transposeA: c.tA, transposeB: c.tB }), tf.matMul(a, b, c.tA, c.tB));
    close(ours[0]!, stock[0]!);
    close(ours[1]!, stock[1]!);
    tf.dispose([a, b, w, ...ours, ...stock]);
  }
});
