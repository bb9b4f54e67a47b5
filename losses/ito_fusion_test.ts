import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { itoFusionLoss } from "./ito_fusion.ts";
import { assertNoLeak, close, gaussian, permuteBatch, read, unitGaussian } from "./testing.ts";

await tf.setBackend("cpu");

const as2d = (t: tf.Tensor) => t as tf.Tensor2D;
const lse = (...xs: number[]) => Math.log(xs.reduce((a, x) => a + Math.exp(x), 0));

Deno.test("itoFusionLoss: hand-computed B = 2 case (self-similarity masked)", () => {
  // Z = [e1, e2, a = (0.6, 0.8), b = (0.8, 0.6)], s = 1; each anchor's positive is its
  // other view, its log-sum-exp runs over the three other rows.
  const rows = [
    lse(0, 0.6, 0.8) - 0.6, // e1: e2 0, a 0.6 (positive), b 0.8
    lse(0, 0.8, 0.6) - 0.6, // e2: e1 0, a 0.8, b 0.6 (positive)
    lse(0.6, 0.8, 0.96) - 0.6, // a: e1 0.6 (positive), e2 0.8, b 0.96
    lse(0.8, 0.6, 0.96) - 0.6, // b: e1 0.8, e2 0.6 (positive), a 0.96
  ];
  const expected = rows.reduce((x, y) => x + y) / 4;
  const s1 = tf.tensor2d([[1, 0], [0, 1]]);
  const s2 = tf.tensor2d([[0.6, 0.8], [0.8, 0.6]]);
  close(read(itoFusionLoss(s1, s2, { scale: 1 })), expected, 1e-6);
  // Symmetric: swapping the views gives the same loss.
  close(read(itoFusionLoss(s2, s1, { scale: 1 })), expected, 1e-6);
  tf.dispose([s1, s2]);
});

Deno.test("itoFusionLoss is exactly ln(2B − 1) at scale 0 and ≈ there for random views at a small scale", () => {
  const [s1, s2] = [unitGaussian([16, 128], 1), unitGaussian([16, 128], 2)];
  close(read(itoFusionLoss(as2d(s1), as2d(s2), { scale: 0 })), Math.log(31), 1e-6);
  const init = read(itoFusionLoss(as2d(s1), as2d(s2), { scale: 1 }));
  assert.ok(Math.abs(init - Math.log(31)) < 0.05, `init ${init}`);
  tf.dispose([s1, s2]);
});

Deno.test("itoFusionLoss → 0 when the views agree and differ across samples", () => {
  const s = tf.eye(4) as tf.Tensor2D;
  // Positive cosine 1, negatives 0 (other samples) — and the masked self-similarity
  // (also 1) must not count, else the loss would be ≥ ln 2.
  const loss = read(itoFusionLoss(s, s, { scale: 50 }));
  assert.ok(loss < 1e-6, `loss ${loss}`);
  s.dispose();
});

Deno.test("itoFusionLoss is invariant to a joint permutation of the batch", () => {
  const [s1, s2] = [unitGaussian([5, 4], 3), unitGaussian([5, 4], 4)];
  const perm = [2, 4, 0, 1, 3];
  const [p1, p2] = [permuteBatch(s1, perm), permuteBatch(s2, perm)];
  close(
    read(itoFusionLoss(as2d(p1), as2d(p2), { scale: 5 })),
    read(itoFusionLoss(as2d(s1), as2d(s2), { scale: 5 })),
  );
  tf.dispose([s1, s2, p1, p2]);
});

Deno.test("itoFusionLoss gradients (both views, θ) agree with finite differences", async () => {
  const [s1, s2] = [gaussian([3, 3], 5), gaussian([3, 3], 6)];
  const theta = tf.scalar(Math.log(2));
  await assertGradients(
    (a, b, th) => itoFusionLoss(as2d(a!), as2d(b!), { scale: tf.exp(th!) as tf.Scalar }),
    [s1, s2, theta],
  );
  tf.dispose([s1, s2, theta]);
});

Deno.test("itoFusionLoss rejects mismatched views, naming both shapes", () => {
  const [a, b] = [tf.zeros([4, 3]), tf.zeros([4, 2])];
  assert.throws(
    () => itoFusionLoss(as2d(a), as2d(b), { scale: 1 }),
    /view 1 \[4, 3\] and view 2 \[4, 2\]/,
  );
  tf.dispose([a, b]);
});

Deno.test("itoFusionLoss leaves no tensors behind", () => {
  const [s1, s2] = [unitGaussian([6, 4], 7), unitGaussian([6, 4], 8)];
  const scale = tf.scalar(10);
  assertNoLeak((a, b, s) => itoFusionLoss(as2d(a!), as2d(b!), { scale: s as tf.Scalar }), [
    s1,
    s2,
    scale,
  ]);
  tf.dispose([s1, s2, scale]);
});
