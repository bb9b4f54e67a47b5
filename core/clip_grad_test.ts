import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { clipByGlobalNorm, globalNorm } from "./clip_grad.ts";

await tf.setBackend("cpu");

function sample(): Map<string, tf.Tensor> {
  // Σg² = (9 + 16) + (144) = 169 → global norm 13.
  return new Map<string, tf.Tensor>([
    ["a.weight", tf.tensor2d([[3, 0], [0, -4]])],
    ["b.bias", tf.tensor1d([12])],
  ]);
}

function disposeMap(m: Map<string, tf.Tensor>): void {
  for (const t of m.values()) t.dispose();
}

function assertClose(actual: ArrayLike<number>, expected: number[], tol = 1e-6): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < expected.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `index ${i}: ${actual[i]} vs ${expected[i]}`,
    );
  }
}

Deno.test("globalNorm: hand-computed value, empty map is 0", () => {
  const g = sample();
  const n = globalNorm(g);
  assert.equal(n.rank, 0);
  assertClose(n.dataSync(), [13]);
  const empty = globalNorm(new Map());
  assert.equal(empty.dataSync()[0], 0);
  for (const t of [n, empty]) t.dispose();
  disposeMap(g);
});

Deno.test("clipByGlobalNorm: scales by maxNorm / (norm + 1e-6) when the norm is too large", () => {
  const g = sample();
  const { grads, norm } = clipByGlobalNorm(g, 1);
  assertClose(norm.dataSync(), [13]);
  const scale = 1 / (13 + 1e-6);
  assertClose(grads.get("a.weight")!.dataSync(), [3 * scale, 0, 0, -4 * scale]);
  assertClose(grads.get("b.bias")!.dataSync(), [12 * scale]);
  assert.deepEqual(grads.get("a.weight")!.shape, [2, 2]);
  const after = globalNorm(grads);
  assertClose(after.dataSync(), [13 * scale], 1e-6);
  assertClose(g.get("b.bias")!.dataSync(), [12], 0); // inputs untouched
  for (const t of [norm, after]) t.dispose();
  disposeMap(grads);
  disposeMap(g);
});

Deno.test("clipByGlobalNorm: leaves gradients unchanged below the limit (incl. exactly at it)", () => {
  const g = sample();
  for (const maxNorm of [13, 100]) {
    // At maxNorm = 13, 13/(13 + 1e-6) < 1 scales by 1 − 7.7e-8: unchanged in float32.
    const { grads, norm } = clipByGlobalNorm(g, maxNorm);
    assertClose(grads.get("a.weight")!.dataSync(), [3, 0, 0, -4], 1e-6);
    assertClose(grads.get("b.bias")!.dataSync(), [12], 1e-6);
    norm.dispose();
    disposeMap(grads);
  }
  disposeMap(g);
});

Deno.test("clipByGlobalNorm: a non-finite norm propagates (PyTorch error_if_nonfinite=False)", () => {
  const g = new Map<string, tf.Tensor>([["x", tf.tensor1d([1, NaN])]]);
  const { grads, norm } = clipByGlobalNorm(g, 1);
  assert.ok(Number.isNaN(norm.dataSync()[0]));
  assert.ok(Number.isNaN(grads.get("x")!.dataSync()[0]));
  norm.dispose();
  disposeMap(grads);
  disposeMap(g);
});

Deno.test("clipByGlobalNorm: rejects a bad maxNorm; no tensor leaks", () => {
  const g = sample();
  assert.throws(() => clipByGlobalNorm(g, 0), /maxNorm must be a finite number > 0, got 0/);
  assert.throws(() => clipByGlobalNorm(g, Infinity), /got Infinity/);
  const before = tf.memory().numTensors;
  const { grads, norm } = clipByGlobalNorm(g, 0.5);
  assert.equal(tf.memory().numTensors, before + 3, "exactly the outputs: 2 grads + norm");
  norm.dispose();
  disposeMap(grads);
  assert.equal(tf.memory().numTensors, before);
  disposeMap(g);
});
