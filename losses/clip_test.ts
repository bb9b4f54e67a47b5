import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import { assertGradients } from "../tests/gradcheck.ts";
import { clipLoss } from "./clip.ts";

await tf.setBackend("cpu");

/** `[B, D]` Gaussian rows, L2-normalised when `unit`. */
function rows(b: number, d: number, seed: number, unit = true): tf.Tensor2D {
  const rng = new Rng(seed);
  const x = tf.tensor2d(Float32Array.from({ length: b * d }, () => rng.normal()), [b, d]);
  if (!unit) return x;
  const out = tf.tidy(() => tf.div(x, tf.norm(x, 2, 1, true)) as tf.Tensor2D);
  x.dispose();
  return out;
}

const value = (s: tf.Scalar): number => {
  const v = s.dataSync()[0]!;
  s.dispose();
  return v;
};

Deno.test("clipLoss is exactly ln B at scale 0, with or without bias", () => {
  for (const b of [1, 2, 7, 32]) {
    const [image, text] = [rows(b, 16, 1), rows(b, 16, 2)];
    assert.ok(Math.abs(value(clipLoss(image, text, { scale: 0 })) - Math.log(b)) < 1e-6);
    assert.ok(Math.abs(value(clipLoss(image, text, { scale: 0, bias: -3 })) - Math.log(b)) < 1e-6);
    tf.dispose([image, text]);
  }
});

Deno.test("clipLoss ≈ ln B at random initialisation (normalised random vectors, small scale)", () => {
  // Cosines of random unit vectors in D = 256 are ~ ±1/16, so with s = 1 the logits are
  // nearly flat and the loss differs from ln B by O(s²/D) ≈ 0.004.
  const [image, text] = [rows(64, 256, 3), rows(64, 256, 4)];
  const loss = value(clipLoss(image, text, { scale: 1 }));
  assert.ok(Math.abs(loss - Math.log(64)) < 0.02, `loss ${loss} vs ln 64 = ${Math.log(64)}`);
  tf.dispose([image, text]);
});

Deno.test("clipLoss: hand-computed B = 2 case", () => {
  // I Tᵀ = [[0.6, 1], [0.8, 0]], s = 2 → logits [[1.2, 2], [1.6, 0]];
  // rows: lse(1.2, 2) − 1.2 and lse(1.6, 0) − 0; columns: lse(1.2, 1.6) − 1.2 and lse(2, 0) − 0.
  const lse = (a: number, b: number) => Math.log(Math.exp(a) + Math.exp(b));
  const rowsCe = (lse(1.2, 2) - 1.2 + lse(1.6, 0)) / 2;
  const colsCe = (lse(1.2, 1.6) - 1.2 + lse(2, 0)) / 2;
  const expected = (rowsCe + colsCe) / 2;
  assert.ok(Math.abs(expected - 1.4987362) < 1e-6);
  const image = tf.tensor2d([[1, 0], [0, 1]]);
  const text = tf.tensor2d([[0.6, 0.8], [1, 0]]);
  assert.ok(Math.abs(value(clipLoss(image, text, { scale: 2 })) - expected) < 1e-6);
  const scale = tf.scalar(2);
  assert.ok(
    Math.abs(value(clipLoss(image, text, { scale, bias: tf.scalar(5) })) - expected) < 1e-5,
  );
  tf.dispose([image, text, scale]);
});

Deno.test("clipLoss is stable at large scales and falls to 0 on perfect matches", () => {
  const image = tf.tensor2d([[1, 0], [0, 1]]);
  const wrong = tf.tensor2d([[0, 1], [1, 0]]);
  assert.ok(value(clipLoss(image, image, { scale: 1e4 })) < 1e-6);
  const bad = value(clipLoss(image, wrong, { scale: 1e4 }));
  assert.ok(Number.isFinite(bad) && Math.abs(bad - 1e4) < 1, `mismatched pairs: ${bad}`);
  tf.dispose([image, wrong]);
});

// Float32 central differences with h = 1e-2 on O(1) inputs; per entry
// |a − n| ≤ 1e-4 + 1e-2·max(|a|, |n|).
Deno.test("clipLoss gradients (image, text, scalar scale) agree with finite differences", async () => {
  const image = rows(4, 3, 5, false);
  const text = rows(4, 3, 6, false);
  const theta = tf.scalar(Math.log(2));
  await assertGradients(
    (i, t, th) =>
      clipLoss(i as tf.Tensor2D, t as tf.Tensor2D, { scale: tf.exp(th!) as tf.Scalar, bias: 0.3 }),
    [image, text, theta],
  );
  tf.dispose([image, text, theta]);
});

Deno.test("clipLoss rejects mismatched shapes, naming both", () => {
  const [a, b, c] = [tf.zeros([4, 3]), tf.zeros([5, 3]), tf.zeros([2, 4, 3])];
  assert.throws(
    () => clipLoss(a as tf.Tensor2D, b as tf.Tensor2D, { scale: 1 }),
    /image \[4, 3\] and text \[5, 3\]/,
  );
  assert.throws(() => clipLoss(c as tf.Tensor2D, a as tf.Tensor2D, { scale: 1 }), /\[B, D\]/);
  tf.dispose([a, b, c]);
});

Deno.test("clipLoss leaves no tensors behind (forward and gradient)", () => {
  const [image, text] = [rows(8, 4, 7), rows(8, 4, 8)];
  const theta = tf.scalar(1);
  const before = tf.memory().numTensors;
  tf.dispose(clipLoss(image, text, { scale: 3, bias: 1 }));
  const grads = tf.grads((i: tf.Tensor, th: tf.Tensor) =>
    clipLoss(i as tf.Tensor2D, text, { scale: tf.exp(th) as tf.Scalar })
  )([image, theta]);
  tf.dispose(grads);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([image, text, theta]);
});
