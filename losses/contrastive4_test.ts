import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { contrastive4Loss } from "./contrastive4.ts";
import { assertNoLeak, close, gaussian, permuteBatch, read, unitGaussian } from "./testing.ts";

await tf.setBackend("cpu");

type M = number[][];
const dot = (a: number[], b: number[]) => a.reduce((s, x, i) => s + x * b[i]!, 0);
const lse = (xs: number[]) => Math.log(xs.reduce((a, x) => a + Math.exp(x), 0));

/** Symmetric InfoNCE ½[CE(s XYᵀ) + CE(s YXᵀ)] in plain numbers. */
function clipRef(x: M, y: M, s: number): number {
  const l = x.map((xi) => y.map((yj) => s * dot(xi, yj)));
  const rows = l.map((r, i) => lse(r) - r[i]!);
  const cols = l.map((_, j) => lse(l.map((r) => r[j]!)) - l[j]![j]!);
  return (rows.reduce((a, b) => a + b) + cols.reduce((a, b) => a + b)) / (2 * x.length);
}

const V = [[1, 0], [0, 1]];
const VA = [[0.6, 0.8], [0.8, 0.6]];
const T = [[0.6, 0.8], [1, 0]];
const TA = [[0, 1], [0.8, 0.6]];

Deno.test("contrastive4Loss: hand-computed B = 2 case, with and without text views", () => {
  const image = tf.tensor3d([V, VA]);
  const text = tf.tensor2d(T);
  const texts = tf.tensor3d([T, TA]);
  const s = 2;
  // Without augmented text, T2T compares the captions with themselves.
  const selfT = (2 * clipRef(V, T, s) + clipRef(V, VA, s) + clipRef(T, T, s)) / 4;
  close(read(contrastive4Loss(image, text, { scale: s })), selfT, 1e-6);
  const withTa = (2 * clipRef(V, T, s) + clipRef(V, VA, s) + clipRef(T, TA, s)) / 4;
  close(read(contrastive4Loss(image, texts, { scale: s })), withTa, 1e-6);
  tf.dispose([image, text, texts]);
});

Deno.test("contrastive4Loss is ln B at scale 0 and ≈ ln B at a small scale", () => {
  const [image, text] = [unitGaussian([2, 32, 128], 1), unitGaussian([32, 128], 2)];
  close(read(contrastive4Loss(image, text, { scale: 0 })), Math.log(32), 1e-6);
  // T2T against itself has positive cosine 1, so the loss sits a little below ln B.
  const small = read(contrastive4Loss(image, text, { scale: 1 }));
  assert.ok(Math.abs(small - Math.log(32)) < 0.3, `loss ${small}`);
  tf.dispose([image, text]);
});

Deno.test("contrastive4Loss is invariant to a joint permutation of the batch", () => {
  const [image, text] = [unitGaussian([2, 5, 4], 3), unitGaussian([2, 5, 4], 4)];
  const perm = [1, 3, 0, 4, 2];
  const [pi, pt] = [permuteBatch(image, perm, 1), permuteBatch(text, perm, 1)];
  close(
    read(contrastive4Loss(pi, pt, { scale: 5 })),
    read(contrastive4Loss(image, text, { scale: 5 })),
  );
  tf.dispose([image, text, pi, pt]);
});

Deno.test("contrastive4Loss gradients (image views, text, θ) agree with finite differences", async () => {
  const [image, text] = [gaussian([2, 3, 3], 5), gaussian([3, 3], 6)];
  const theta = tf.scalar(0.5);
  await assertGradients(
    (i, t, th) => contrastive4Loss(i!, t!, { scale: tf.exp(th!) as tf.Scalar }),
    [image, text, theta],
  );
  tf.dispose([image, text, theta]);
});

Deno.test("contrastive4Loss rejects mismatched inputs, naming both shapes", () => {
  const [one, two, text, bad] = [
    tf.zeros([4, 3]),
    tf.zeros([2, 4, 3]),
    tf.zeros([4, 3]),
    tf.zeros([5, 3]),
  ];
  assert.throws(
    () => contrastive4Loss(one, text, { scale: 1 }),
    /image \[4, 3\] and text \[4, 3\].*\[2, B, D\]/,
  );
  assert.throws(
    () => contrastive4Loss(two, bad, { scale: 1 }),
    /image \[2, 4, 3\] and text \[5, 3\]/,
  );
  tf.dispose([one, two, text, bad]);
});

Deno.test("contrastive4Loss leaves no tensors behind", () => {
  const [image, text] = [unitGaussian([2, 6, 4], 7), unitGaussian([6, 4], 8)];
  assertNoLeak((i, t) => contrastive4Loss(i!, t!, { scale: 3 }), [image, text]);
  tf.dispose([image, text]);
});
