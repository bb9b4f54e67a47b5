import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { sigLipLoss } from "./siglip.ts";
import { assertNoLeak, close, gaussian, permuteBatch, read, unitGaussian } from "./testing.ts";

await tf.setBackend("cpu");

const softplus = (x: number) => Math.log1p(Math.exp(x));
const as2d = (t: tf.Tensor) => t as tf.Tensor2D;

Deno.test("sigLipLoss: hand-computed B = 2 case", () => {
  // I Tᵀ = [[0.6, 1], [0.8, 0]]; s = 2, b = −1 → logits [[0.2, 1], [0.6, −1]].
  // Positives (diagonal) cost softplus(−ℓ), negatives softplus(ℓ); sum / B.
  const expected = (softplus(-0.2) + softplus(1) + softplus(0.6) + softplus(1)) / 2;
  const image = tf.tensor2d([[1, 0], [0, 1]]);
  const text = tf.tensor2d([[0.6, 0.8], [1, 0]]);
  close(read(sigLipLoss(image, text, { scale: 2, bias: -1 })), expected, 1e-6);
  const [s, b] = [tf.scalar(2), tf.scalar(-1)];
  close(read(sigLipLoss(image, text, { scale: s, bias: b })), expected, 1e-6);
  tf.dispose([image, text, s, b]);
});

Deno.test("sigLipLoss ≈ 10 at SigLIP's initialisation (s = 10, b = −10, random unit rows)", () => {
  // Every logit ≈ −10: B positives cost ≈ 10 − 10·cos each, B² − B negatives ≈ e⁻¹⁰ each.
  const [image, text] = [unitGaussian([64, 256], 1), unitGaussian([64, 256], 2)];
  const loss = read(sigLipLoss(as2d(image), as2d(text), { scale: 10, bias: -10 }));
  assert.ok(Math.abs(loss - 10) < 0.3, `loss ${loss}`);
  tf.dispose([image, text]);
});

Deno.test("sigLipLoss is invariant to a joint permutation of the batch", () => {
  const [image, text] = [unitGaussian([6, 5], 3), unitGaussian([6, 5], 4)];
  const perm = [3, 0, 5, 1, 4, 2];
  const [pi, pt] = [permuteBatch(image, perm), permuteBatch(text, perm)];
  const opts = { scale: 4, bias: -2 };
  close(
    read(sigLipLoss(as2d(pi), as2d(pt), opts)),
    read(sigLipLoss(as2d(image), as2d(text), opts)),
  );
  // Permuting only one side breaks the pairing and changes the loss.
  const broken = read(sigLipLoss(as2d(pi), as2d(text), opts));
  assert.notEqual(broken.toFixed(4), read(sigLipLoss(as2d(image), as2d(text), opts)).toFixed(4));
  tf.dispose([image, text, pi, pt]);
});

Deno.test("sigLipLoss stays finite at large logits and → 0 on separated pairs", () => {
  const image = tf.tensor2d([[1, 0], [0, 1]]);
  const loss = read(sigLipLoss(image, image, { scale: 1000, bias: -500 }));
  assert.ok(loss < 1e-6, `loss ${loss}`);
  const wrong = tf.tensor2d([[0, 1], [1, 0]]);
  const bad = read(sigLipLoss(image, wrong, { scale: 1000, bias: -500 }));
  assert.ok(Number.isFinite(bad) && Math.abs(bad - 1000) < 1e-2, `bad ${bad}`);
  tf.dispose([image, wrong]);
});

Deno.test("sigLipLoss gradients (image, text, θ, b) agree with finite differences", async () => {
  const [image, text] = [gaussian([4, 3], 5), gaussian([4, 3], 6)];
  const [theta, bias] = [tf.scalar(Math.log(2)), tf.scalar(-1)];
  await assertGradients(
    (i, t, th, b) =>
      sigLipLoss(as2d(i!), as2d(t!), { scale: tf.exp(th!) as tf.Scalar, bias: b as tf.Scalar }),
    [image, text, theta, bias],
  );
  tf.dispose([image, text, theta, bias]);
});

Deno.test("sigLipLoss rejects mismatched shapes, naming both", () => {
  const [a, b] = [tf.zeros([4, 3]), tf.zeros([5, 3])];
  assert.throws(
    () => sigLipLoss(as2d(a), as2d(b), { scale: 1, bias: 0 }),
    /image \[4, 3\] and text \[5, 3\]/,
  );
  tf.dispose([a, b]);
});

Deno.test("sigLipLoss leaves no tensors behind (forward and gradient)", () => {
  const [image, text] = [unitGaussian([8, 4], 7), unitGaussian([8, 4], 8)];
  const [scale, bias] = [tf.scalar(3), tf.scalar(-3)];
  assertNoLeak(
    (i, s, b) => sigLipLoss(as2d(i!), as2d(text), { scale: s as tf.Scalar, bias: b as tf.Scalar }),
    [image, scale, bias],
  );
  tf.dispose([image, text, scale, bias]);
});
