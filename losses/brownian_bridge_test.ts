import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { brownianBridgeLoss } from "./brownian_bridge.ts";
import { assertNoLeak, close, gaussian, permuteBatch, read, unitGaussian } from "./testing.ts";

await tf.setBackend("cpu");

Deno.test("brownianBridgeLoss: hand-computed case (z_V = e1, z_T = e2, t = 0.25)", () => {
  // μ = (0.25, 0.75) / ‖·‖ = (0.25, 0.75) / √0.625; ‖e1 − μ‖² = 2 − 2 μ₁.
  const mu1 = 0.25 / Math.sqrt(0.625);
  const mu2 = 0.75 / Math.sqrt(0.625);
  const image = tf.tensor3d([[[1, 0], [1, 0]], [[1, 0], [mu1, mu2]]]);
  const text = tf.tensor2d([[0, 1], [0, 1]]);
  // Row 0: z^a = e1 → 2 − 2 μ₁; row 1: z^a = μ → 0; mean over the batch.
  close(read(brownianBridgeLoss(image, text)), (2 - 2 * mu1) / 2, 1e-6);
  // t = 1 puts μ on the original view: ‖e1 − e1‖² = 0 and ‖μ − e1‖² = 2 − 2 μ₁.
  close(read(brownianBridgeLoss(image, text, { t: 1 })), (2 - 2 * mu1) / 2, 1e-6);
  // t = 0 puts μ on the text: ‖e1 − e2‖² = 2 and ‖μ − e2‖² = 2 − 2 μ₂.
  close(read(brownianBridgeLoss(image, text, { t: 0 })), (2 + 2 - 2 * mu2) / 2, 1e-6);
  tf.dispose([image, text]);
});

Deno.test("brownianBridgeLoss uses the first text view of [V, B, D] text", () => {
  const [image, text] = [unitGaussian([2, 4, 3], 1), unitGaussian([2, 4, 3], 2)];
  const first = tf.squeeze(tf.slice(text, [0, 0, 0], [1, -1, -1]), [0]);
  close(read(brownianBridgeLoss(image, text)), read(brownianBridgeLoss(image, first)));
  tf.dispose([image, text, first]);
});

Deno.test("brownianBridgeLoss is invariant to a joint permutation of the batch", () => {
  const [image, text] = [unitGaussian([2, 5, 4], 3), unitGaussian([5, 4], 4)];
  const perm = [3, 1, 4, 0, 2];
  const [pi, pt] = [permuteBatch(image, perm, 1), permuteBatch(text, perm)];
  close(read(brownianBridgeLoss(pi, pt)), read(brownianBridgeLoss(image, text)));
  tf.dispose([image, text, pi, pt]);
});

Deno.test("brownianBridgeLoss gradients agree with finite differences (through μ too)", async () => {
  const [image, text] = [gaussian([2, 3, 3], 5), gaussian([3, 3], 6)];
  await assertGradients((i, t) => brownianBridgeLoss(i!, t!, { t: 0.25 }), [image, text]);
  tf.dispose([image, text]);
});

Deno.test("brownianBridgeLoss rejects bad shapes and t, naming the values", () => {
  const [two, one, bad] = [tf.zeros([2, 4, 3]), tf.zeros([4, 3]), tf.zeros([4, 5])];
  assert.throws(
    () => brownianBridgeLoss(one, one),
    /image \[4, 3\] and text \[4, 3\].*\[2, B, D\]/,
  );
  assert.throws(() => brownianBridgeLoss(two, bad), /image \[2, 4, 3\] and text \[4, 5\]/);
  assert.throws(() => brownianBridgeLoss(two, one, { t: 1.5 }), /t must be in \[0, 1\].*got 1.5/);
  tf.dispose([two, one, bad]);
});

Deno.test("brownianBridgeLoss leaves no tensors behind", () => {
  const [image, text] = [unitGaussian([2, 6, 4], 7), unitGaussian([6, 4], 8)];
  assertNoLeak((i, t) => brownianBridgeLoss(i!, t!), [image, text]);
  tf.dispose([image, text]);
});
