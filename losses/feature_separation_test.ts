import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import {
  featureSeparationLoss,
  featureSeparationTerms,
  uniformityLoss,
} from "./feature_separation.ts";
import { assertNoLeak, close, gaussian, permuteBatch, read, unitGaussian } from "./testing.ts";

await tf.setBackend("cpu");

const as2d = (t: tf.Tensor) => t as tf.Tensor2D;

/** Reads the three terms (and disposes them). */
function terms(
  shared: { image: tf.Tensor; text: tf.Tensor },
  independent: { image: tf.Tensor; text: tf.Tensor },
  scale = 1,
) {
  const t = featureSeparationTerms(shared, independent, { scale });
  return { ortho: read(t.ortho), contrastive: read(t.contrastive), uniformity: read(t.uniformity) };
}

Deno.test("uniformityLoss: hand-computed cases (distinct pairs only)", () => {
  // e1, e2: ‖e1 − e2‖² = 2 → log exp(−2·2) = −4.
  const two = tf.tensor2d([[1, 0], [0, 1]]);
  close(read(uniformityLoss(two)), -4, 1e-6);
  // e1, e2, −e1: ordered pairs have distances 2, 4, 2, 2, 4, 2.
  const three = tf.tensor2d([[1, 0], [0, 1], [-1, 0]]);
  close(read(uniformityLoss(three)), Math.log((4 * Math.exp(-4) + 2 * Math.exp(-8)) / 6), 1e-6);
  close(
    read(uniformityLoss(three, { t: 1 })),
    Math.log((4 * Math.exp(-2) + 2 * Math.exp(-4)) / 6),
    1e-6,
  );
  // Collapse: every distance 0 → log 1 = 0 (the diagonal is excluded, not counted as 0).
  const same = tf.ones([4, 3]);
  close(read(uniformityLoss(as2d(same))), 0, 1e-6);
  assert.throws(() => uniformityLoss(as2d(tf.ones([1, 3]))), /B ≥ 2, got \[1, 3\]/);
  tf.dispose([two, three, same]);
});

Deno.test("featureSeparation: hand-computed orthogonality and the contrastive term at scale 0", () => {
  const s = 0.6, c = 0.8;
  // Shared e1 everywhere; independent rows at cosine 0.6 (image) and 0 (text).
  const shared = {
    image: tf.tensor3d([[[1, 0], [1, 0]], [[1, 0], [1, 0]]]),
    text: tf.tensor2d([[1, 0], [1, 0]]),
  };
  const independent = {
    image: tf.tensor3d([[[s, c], [s, -c]], [[s, c], [s, -c]]]),
    text: tf.tensor2d([[0, 1], [0, -1]]),
  };
  const got = terms(shared, independent, 0);
  close(got.ortho, 0.36, 1e-6); // mean ⟨z_V, zⁱ_V⟩² = 0.36, text 0
  close(got.contrastive, 2 * Math.log(2), 1e-6); // ln B per modality at scale 0
  // Uniformity: image rows (0.6, ±0.8) are 1.28² apart → −2·2.56 per view; text e2, −e2 → −8.
  close(got.uniformity, -2 * 2.56 + -8, 1e-5);
  const weights = { orthoWeight: 2, contrastiveWeight: 0.5, uniformityWeight: 0.1 };
  close(
    read(featureSeparationLoss(shared, independent, { scale: 0, ...weights })),
    2 * 0.36 + 0.5 * 2 * Math.log(2) + 0.1 * (-5.12 - 8),
    1e-5,
  );
  tf.dispose([shared.image, shared.text, independent.image, independent.text]);
});

Deno.test("featureSeparation: ortho is 0 for orthogonal heads, 2 for identical ones", () => {
  const z = unitGaussian([2, 5, 2], 1);
  const rot = tf.tensor2d([[0, 1], [-1, 0]]); // 90° rotation: ⟨z, z R⟩ = 0
  const zr = tf.reshape(tf.matMul(tf.reshape(z, [10, 2]), rot), [2, 5, 2]);
  const text = unitGaussian([5, 2], 2);
  const textR = tf.matMul(text, rot);
  close(terms({ image: z, text }, { image: zr, text: textR }).ortho, 0, 1e-6);
  close(terms({ image: z, text }, { image: z, text }).ortho, 2, 1e-5);
  tf.dispose([z, rot, zr, text, textR]);
});

Deno.test("featureSeparation is invariant to a joint permutation of the batch", () => {
  const [iv, it, jv, jt] = [
    unitGaussian([2, 5, 4], 3),
    unitGaussian([5, 4], 4),
    unitGaussian([2, 5, 4], 5),
    unitGaussian([5, 4], 6),
  ];
  const perm = [4, 2, 0, 3, 1];
  const loss = (a: tf.Tensor, b: tf.Tensor, c: tf.Tensor, d: tf.Tensor) =>
    read(featureSeparationLoss({ image: a, text: b }, { image: c, text: d }, { scale: 4 }));
  const permuted = [
    permuteBatch(iv, perm, 1),
    permuteBatch(it, perm),
    permuteBatch(jv, perm, 1),
    permuteBatch(jt, perm),
  ];
  close(loss(permuted[0]!, permuted[1]!, permuted[2]!, permuted[3]!), loss(iv, it, jv, jt));
  tf.dispose([iv, it, jv, jt, ...permuted]);
});

Deno.test("featureSeparation gradients agree with finite differences", async () => {
  // Shared image views, shared text, independent image views, independent text.
  const inputs = [
    gaussian([2, 3, 3], 7),
    gaussian([3, 3], 8),
    gaussian([2, 3, 3], 9),
    gaussian([3, 3], 10),
  ];
  await assertGradients(
    (a, b, c, d) =>
      featureSeparationLoss({ image: a!, text: b! }, { image: c!, text: d! }, {
        scale: 2,
        uniformityWeight: 0.5,
      }),
    inputs,
  );
  tf.dispose(inputs);
});

Deno.test("featureSeparation rejects mismatched shared/independent shapes, naming both", () => {
  const [a, b, t] = [tf.zeros([2, 4, 3]), tf.zeros([2, 4, 5]), tf.zeros([4, 3])];
  assert.throws(
    () => featureSeparationLoss({ image: a, text: t }, { image: b, text: t }, { scale: 1 }),
    /shared image \[2, 4, 3\] and independent image \[2, 4, 5\]/,
  );
  tf.dispose([a, b, t]);
});

Deno.test("featureSeparation leaves no tensors behind", () => {
  const [iv, it, jv, jt] = [
    unitGaussian([2, 6, 4], 11),
    unitGaussian([6, 4], 12),
    unitGaussian([2, 6, 4], 13),
    unitGaussian([6, 4], 14),
  ];
  assertNoLeak(
    (a, b, c, d) =>
      featureSeparationLoss({ image: a!, text: b! }, { image: c!, text: d! }, { scale: 3 }),
    [iv, it, jv, jt],
  );
  tf.dispose([iv, it, jv, jt]);
});
