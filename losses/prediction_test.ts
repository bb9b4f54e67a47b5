import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { predictionLoss } from "./prediction.ts";

await tf.setBackend("cpu");

const value = (s: tf.Scalar): number => {
  const v = s.dataSync()[0]!;
  s.dispose();
  return v;
};

Deno.test("predictionLoss is the mean squared error over all elements", () => {
  const pred = tf.tensor2d([[1, 2], [3, 4]]);
  const target = tf.tensor2d([[1, 0], [0, 4]]);
  // (0 + 4 + 9 + 0) / 4
  assert.ok(Math.abs(value(predictionLoss(pred, target)) - 13 / 4) < 1e-6);
  tf.dispose([pred, target]);
});

Deno.test("predictionLoss broadcasts a [B, K] target over the views of [V, B, K]", () => {
  const pred = tf.tensor3d([[[1, 1]], [[3, -1]]]); // V = 2, B = 1, K = 2
  const target = tf.tensor2d([[1, 0]]);
  // view 0: (0 + 1), view 1: (4 + 1) → 6 / 4
  assert.ok(Math.abs(value(predictionLoss(pred, target)) - 1.5) < 1e-6);
  const tiled = tf.stack([target, target]);
  assert.ok(Math.abs(value(predictionLoss(pred, tiled)) - 1.5) < 1e-6, "same shape as pred");
  tf.dispose([pred, target, tiled]);
});

Deno.test("predictionLoss names both shapes on a mismatch", () => {
  const cases: [number[], number[]][] = [[[2, 3], [2, 4]], [[2, 4, 3], [5, 3]], [[4], [4]], [
    [2, 3],
    [1, 2, 3],
  ]];
  for (const [p, t] of cases) {
    const [pred, target] = [tf.zeros(p), tf.zeros(t)];
    assert.throws(
      () => predictionLoss(pred, target),
      new RegExp(`pred \\[${p.join(", ")}\\] and target \\[${t.join(", ")}\\] do not match`),
    );
    tf.dispose([pred, target]);
  }
});

// Float32 central differences, h = 1e-2 (exact for a quadratic up to rounding);
// per entry |a − n| ≤ 1e-4 + 1e-2·max(|a|, |n|).
Deno.test("predictionLoss gradients (pred and broadcast target) agree with finite differences", async () => {
  const pred = tf.tensor3d([[[0.5, -1, 2], [1, 0.3, -0.2]], [[-0.4, 0.9, 1.1], [0.2, -1.5, 0.7]]]);
  const target = tf.tensor2d([[1, 0.5, -0.5], [0, 1, 0.25]]);
  await assertGradients((p, t) => predictionLoss(p!, t!), [pred, target]);
  const before = tf.memory().numTensors;
  tf.dispose(tf.grads((p: tf.Tensor, t: tf.Tensor) => predictionLoss(p, t))([pred, target]));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([pred, target]);
});
