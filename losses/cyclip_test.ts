import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { cyclipLoss, cyclipTerms } from "./cyclip.ts";
import { geometricConsistencyTerms } from "./geometric_consistency.ts";
import { assertNoLeak, close, gaussian, read, unitGaussian } from "./testing.ts";

await tf.setBackend("cpu");

const as2d = (t: tf.Tensor) => t as tf.Tensor2D;
const rows = (t: tf.Tensor) => t.arraySync() as number[][];

/**
 * CyCLIP's `train.py` transcribed in float64: both terms from CLIP's logits at scale s, the
 * mean over N² entries of the squared differences, times N, over s².
 */
function cyclipReference(image: number[][], text: number[][], s: number) {
  const n = image.length;
  const dot = (x: number[], y: number[]) => x.reduce((a, v, k) => a + v * y[k]!, 0);
  const logits = (x: number[][], y: number[][]) => x.map((r) => y.map((q) => s * dot(r, q)));
  const perImage = logits(image, text);
  const perText = perImage[0]!.map((_, j) => perImage.map((r) => r[j]!));
  const [ii, tt] = [logits(image, image), logits(text, text)];
  const meanSq = (a: number[][], b: number[][]) =>
    a.flat().reduce((acc, v, k) => acc + (v - b.flat()[k]!) ** 2, 0) / (n * n);
  return {
    inModal: meanSq(ii, tt) / (s * s) * n,
    crossModal: meanSq(perImage, perText) / (s * s) * n,
  };
}

Deno.test("cyclipTerms equal CyCLIP's code transcribed in float64 (logit scale divided out)", () => {
  for (const [n, d, seed] of [[6, 4, 1], [9, 16, 3], [1, 3, 5]] as const) {
    const [image, text] = [unitGaussian([n, d], seed), unitGaussian([n, d], seed + 1)];
    const terms = cyclipTerms(as2d(image), as2d(text));
    const ref = cyclipReference(rows(image), rows(text), 1 / 0.07);
    close(read(terms.inModal), ref.inModal, 1e-5);
    close(read(terms.crossModal), ref.crossModal, 1e-5);
    tf.dispose([image, text]);
  }
});

Deno.test("cyclipTerms: a hand-computed N = 2 case", () => {
  // I = [e1, e2], T = [(0.6, 0.8), (0.8, 0.6)]: S_IT = [[0.6, 0.8], [0.8, 0.6]] is symmetric,
  // so L_C = 0; S_II = 1, S_TT = [[1, 0.96], [0.96, 1]]: L_I = 2 · 0.96² / 2.
  const image = tf.tensor2d([[1, 0], [0, 1]]);
  const text = tf.tensor2d([[0.6, 0.8], [0.8, 0.6]]);
  const terms = cyclipTerms(image, text);
  close(read(terms.crossModal), 0, 1e-7);
  close(read(terms.inModal), 0.96 ** 2, 1e-6);
  // One caption twice, T = [(0.6, 0.8), (0.6, 0.8)]: S_IT = [[0.6, 0.6], [0.8, 0.8]], whose
  // off-diagonal entries differ by 0.2: L_C = 2 · 0.2² / 2.
  const same = tf.tensor2d([[0.6, 0.8], [0.6, 0.8]]);
  const asym = cyclipTerms(image, same);
  close(read(asym.crossModal), 2 * 0.2 ** 2 / 2, 1e-6);
  close(read(cyclipLoss(image, same, { inModalWeight: 0, crossModalWeight: 3 })), 3 * 0.04, 1e-6);
  tf.dispose([image, text, same]);
});

Deno.test("cyclipLoss is 0 when image and text embeddings coincide", () => {
  const z = unitGaussian([7, 5], 9);
  const loss = read(cyclipLoss(as2d(z), as2d(z), { inModalWeight: 1, crossModalWeight: 1 }));
  assert.ok(loss < 1e-10, `loss ${loss}`);
  z.dispose();
});

Deno.test("geometric consistency's plain term is CyCLIP's two terms on the original view", () => {
  const [views, text] = [unitGaussian([2, 6, 4], 11), unitGaussian([6, 4], 12)];
  const original = as2d(tf.squeeze(tf.slice(views, [0, 0, 0], [1, -1, -1]), [0]));
  const gc = geometricConsistencyTerms(views, text);
  const cy = cyclipTerms(original, as2d(text));
  close(read(gc.plain), read(cy.inModal) + read(cy.crossModal), 1e-6);
  tf.dispose([views, text, original, gc.augmented]);
});

Deno.test("cyclipLoss gradients (image and text) agree with finite differences", async () => {
  const [image, text] = [gaussian([4, 3], 13), gaussian([4, 3], 14)];
  await assertGradients(
    (i, t) => cyclipLoss(as2d(i!), as2d(t!), { inModalWeight: 0.25, crossModalWeight: 0.7 }),
    [image, text],
  );
  tf.dispose([image, text]);
});

Deno.test("cyclipTerms refuse mismatched shapes, naming both; no tensors left behind", () => {
  const [a, b] = [tf.zeros([4, 3]), tf.zeros([4, 2])];
  assert.throws(
    () => cyclipTerms(as2d(a), as2d(b)),
    /CyCLIP expects image and text of the same shape \[N, D\], got image \[4, 3\] and text \[4, 2\]/,
  );
  const [i, t] = [unitGaussian([5, 3], 15), unitGaussian([5, 3], 16)];
  assertNoLeak(
    (x, y) => cyclipLoss(as2d(x!), as2d(y!), { inModalWeight: 0.25, crossModalWeight: 0.25 }),
    [i, t],
  );
  tf.dispose([a, b, i, t]);
});
