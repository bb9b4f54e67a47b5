import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { geometricConsistencyLoss, geometricConsistencyTerms } from "./geometric_consistency.ts";
import { assertNoLeak, close, gaussian, permuteBatch, read, unitGaussian } from "./testing.ts";

await tf.setBackend("cpu");

const E1 = [1, 0];
const E2 = [0, 1];

Deno.test("geometricConsistency: hand-computed N = 2 case", () => {
  // Z_V = [e1, e2], Z_T = [e1, e1]: S_VT = [[1, 1], [0, 0]], ‖S_VT − S_VTᵀ‖² = 2;
  // S_VV = I, S_TT = ones, ‖S_VV − S_TT‖² = 2 → plain = (2 + 2) / 2 = 2.
  // Z^a_V = [e2, e1]: S^a_VV = I = S_VV; Z^a_T = Z_T; paired cosines [1, 0] vs [0, 1]
  // → augmented = 0 + mean(1, 1) = 1.
  const image = tf.tensor3d([[E1, E2], [E2, E1]]);
  const text = tf.tensor2d([E1, E1]);
  const t = geometricConsistencyTerms(image, text);
  close(read(t.plain), 2, 1e-6);
  close(read(t.augmented), 1, 1e-6);
  close(read(geometricConsistencyLoss(image, text)), 3, 1e-6);
  close(
    read(geometricConsistencyLoss(image, text, { plainWeight: 2, augmentedWeight: 0.5 })),
    4.5,
    1e-6,
  );
  // With Z^a_T = [e2, e2]: S^a_TT = ones = S_TT, paired cosines [1, 0] → augmented = 0.
  const texts = tf.tensor3d([[E1, E1], [E2, E2]]);
  const u = geometricConsistencyTerms(image, texts);
  close(read(u.plain), 2, 1e-6);
  close(read(u.augmented), 0, 1e-6);
  tf.dispose([image, text, texts]);
});

Deno.test("geometricConsistency is 0 when both modalities share one geometry across views", () => {
  // Z_T = Z_V; the augmented views are the same rotation of both: Gram matrices and
  // paired cosines are unchanged.
  const z = unitGaussian([6, 3], 1);
  const c = Math.cos(0.7), s = Math.sin(0.7);
  const rot = tf.tensor2d([[c, -s, 0], [s, c, 0], [0, 0, 1]]);
  const za = tf.matMul(z, rot);
  const image = tf.stack([z, za]);
  close(read(geometricConsistencyLoss(image, image)), 0, 1e-5);
  tf.dispose([z, rot, za, image]);
});

Deno.test("geometricConsistency is invariant to a joint permutation of the batch", () => {
  const [image, text] = [unitGaussian([2, 5, 4], 2), unitGaussian([2, 5, 4], 3)];
  const perm = [2, 0, 4, 1, 3];
  const [pi, pt] = [permuteBatch(image, perm, 1), permuteBatch(text, perm, 1)];
  close(read(geometricConsistencyLoss(pi, pt)), read(geometricConsistencyLoss(image, text)));
  tf.dispose([image, text, pi, pt]);
});

Deno.test("geometricConsistency gradients agree with finite differences", async () => {
  const [image, text] = [gaussian([2, 3, 2], 4), gaussian([2, 3, 2], 5)];
  await assertGradients((i, t) => geometricConsistencyLoss(i!, t!, { plainWeight: 0.7 }), [
    image,
    text,
  ]);
  tf.dispose([image, text]);
});

Deno.test("geometricConsistency rejects mismatched inputs, naming both shapes", () => {
  const [image, text] = [tf.zeros([2, 4, 3]), tf.zeros([3, 4, 3])];
  assert.throws(
    () => geometricConsistencyLoss(image, text),
    /image \[2, 4, 3\] and text \[3, 4, 3\]/,
  );
  tf.dispose([image, text]);
});

Deno.test("geometricConsistency leaves no tensors behind", () => {
  const [image, text] = [unitGaussian([2, 6, 4], 6), unitGaussian([6, 4], 7)];
  assertNoLeak((i, t) => geometricConsistencyLoss(i!, t!), [image, text]);
  tf.dispose([image, text]);
});
