import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import {
  argmaxRows,
  ascendingOrder,
  auroc,
  confusion,
  f1,
  mcc,
  pairProbability,
  perClassAccuracy,
  topKHits,
  weightedMean,
} from "./classification.ts";
import { matrixFromRows } from "./linalg.ts";

const close = (a: number, b: number, tol = 1e-12, what = "") =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

/** Mann–Whitney U by its definition: pairs (positive, negative) won, ties ½. */
function mannWhitneyU(
  scores: number[],
  targets: number[],
): { u: number; pos: number; neg: number } {
  const pos = scores.filter((_, i) => targets[i] === 1);
  const neg = scores.filter((_, i) => targets[i] === 0);
  let u = 0;
  for (const p of pos) for (const q of neg) u += p > q ? 1 : p === q ? 0.5 : 0;
  return { u, pos: pos.length, neg: neg.length };
}

Deno.test("topKHits and argmax on a hand-made score matrix", () => {
  const scores = matrixFromRows([
    [0.9, 0.1, 0.0], // label 0: rank 1
    [0.5, 0.2, 0.7], // label 1: rank 3
    [0.3, 0.3, 0.1], // label 1: tie with class 0, which comes first → rank 2
    [0.0, 0.0, 0.0], // label -1: unlabelled, never a hit
  ]);
  const labels = [0, 1, 1, -1];
  assert.deepEqual([...topKHits(scores, labels, 1)], [1, 0, 0, 0]);
  assert.deepEqual([...topKHits(scores, labels, 2)], [1, 0, 1, 0]);
  assert.deepEqual([...topKHits(scores, labels, 3)], [1, 1, 1, 0]);
  assert.deepEqual([...argmaxRows(scores)], [0, 2, 0, 0]);
});

Deno.test("NaN scores (a diverged model) never count as hits, nor win an argmax; AUROC refuses them", () => {
  const scores = matrixFromRows([
    [NaN, NaN, NaN], // all NaN: no hit at any k (it counted as a hit)
    [0.2, NaN, 0.1], // label 0, a NaN rival: not ahead
    [NaN, 0.3, 0.4], // label 2: the top number
  ]);
  assert.deepEqual([...topKHits(scores, [0, 0, 2], 1)], [0, 1, 1]);
  assert.deepEqual([...topKHits(scores, [1, 0, 2], 3)], [0, 1, 1]);
  assert.deepEqual([...argmaxRows(scores)], [-1, 0, 2], "an all-NaN row predicts no class");
  // Per-class accuracy agrees: the all-NaN image of class 0 is a miss (it counted as a hit).
  assert.deepEqual([...perClassAccuracy(argmaxRows(scores), [0, 0, 2], { classes: 3 })], [
    0.5,
    NaN,
    1,
  ]);
  // It looped forever on a NaN.
  assert.throws(() => auroc([0.2, NaN, 0.7], [0, 1, 1]), /auroc: sample 1's score is NaN/);
});

Deno.test("perClassAccuracy: per-label fractions, NaN for absent classes, weights as repeats", () => {
  const predictions = [0, 0, 1, 2, 1, 1];
  const labels = [0, 1, 1, 1, 2, -1];
  const acc = perClassAccuracy(predictions, labels, { classes: 4 });
  assert.deepEqual([...acc.slice(0, 3)], [1, 1 / 3, 0]);
  assert.ok(Number.isNaN(acc[3]));
  // Weight 3 on sample 2 (a correct "1") = three copies of it: class 1 → 3/5.
  const weighted = perClassAccuracy(predictions, labels, {
    classes: 4,
    weights: [1, 1, 3, 1, 1, 1],
  });
  close(weighted[1]!, 3 / 5);
  assert.equal(weightedMean([1, 0, 1], [2, 1, 1]), 0.75);
});

Deno.test("auroc: scikit-learn's example and hand cases", () => {
  close(auroc([0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1]), 0.75);
  assert.equal(auroc([1, 2, 3], [0, 1, 1]), 1);
  assert.equal(auroc([3, 2, 1], [0, 1, 1]), 0);
  assert.equal(auroc([5, 5, 5, 5], [0, 1, 0, 1]), 0.5, "all tied → ½");
  assert.equal(auroc([0.2, 0.9, 0.5], [0, 1, -1]), 1, "unknown targets ignored");
  assert.ok(Number.isNaN(auroc([0.2, 0.3], [1, 1])), "no negatives → NaN");
});

Deno.test("auroc equals the Mann–Whitney U statistic / (n₊ n₋), with ties", () => {
  const rng = new Rng(7);
  for (let trial = 0; trial < 20; trial++) {
    const n = 5 + rng.int(60);
    // Coarse scores so that ties are frequent.
    const targets = Array.from({ length: n }, () => rng.int(2));
    const scores = targets.map((t) => Math.round((rng.normal() + t) * 2) / 2);
    const { u, pos, neg } = mannWhitneyU(scores, targets);
    const expected = pos && neg ? u / (pos * neg) : NaN;
    const got = auroc(scores, targets);
    if (Number.isNaN(expected)) assert.ok(Number.isNaN(got));
    else close(got, expected, 1e-12, `trial ${trial}`);
  }
});

Deno.test("auroc: integer weights equal repeating the samples; a precomputed order is reused", () => {
  const scores = [0.3, 0.7, 0.7, 0.1, 0.5];
  const targets = [1, 0, 1, 0, 1];
  const weights = [2, 0, 1, 3, 1];
  const repeatedScores: number[] = [], repeatedTargets: number[] = [];
  weights.forEach((w, i) => {
    for (let k = 0; k < w; k++) {
      repeatedScores.push(scores[i]!);
      repeatedTargets.push(targets[i]!);
    }
  });
  const expected = auroc(repeatedScores, repeatedTargets);
  const order = ascendingOrder(scores);
  assert.deepEqual([...order], [3, 0, 4, 1, 2]);
  close(auroc(scores, targets, { weights, order }), expected);
  const { u, pos, neg } = mannWhitneyU(repeatedScores, repeatedTargets);
  close(expected, u / (pos * neg));
});

Deno.test("confusion, MCC and F1 at a threshold: hand counts and the phi coefficient", () => {
  //               tp   tp   tp   fn   fn   fp   tn   tn   tn   tn
  const scores = [0.9, 0.8, 0.5, 0.4, 0.1, 0.7, 0.3, 0.2, 0.0, 0.49];
  const targets = [1, 1, 1, 1, 1, 0, 0, 0, 0, 0];
  const c = confusion(scores, targets, { threshold: 0.5 });
  assert.deepEqual(c, { tp: 3, fp: 1, tn: 4, fn: 2 });
  close(mcc(c), 10 / Math.sqrt(4 * 5 * 5 * 6));
  close(f1(c), 6 / 9);
  // MCC is Pearson's correlation of the 0/1 prediction with the 0/1 target.
  const pred = scores.map((s) => (s >= 0.5 ? 1 : 0));
  const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;
  const [mp, mt] = [mean(pred), mean(targets)];
  const cov = mean(pred.map((p, i) => (p - mp) * (targets[i]! - mt)));
  const sd = (v: number[], m: number) => Math.sqrt(mean(v.map((x) => (x - m) ** 2)));
  close(mcc(c), cov / (sd(pred, mp) * sd(targets, mt)));
  // Degenerate cases follow scikit-learn: 0.
  assert.equal(mcc({ tp: 5, fp: 5, tn: 0, fn: 0 }), 0);
  assert.equal(f1({ tp: 0, fp: 0, tn: 7, fn: 0 }), 0);
  assert.equal(mcc({ tp: 2, fp: 0, tn: 3, fn: 0 }), 1);
});

Deno.test("pairProbability is the softmax over the (positive, negative) logits", () => {
  for (const [p, n, scale] of [[0.3, 0.1, 1], [0.2, 0.25, 100], [0.5, 0.5, 10]] as const) {
    const expected = Math.exp(scale * p) / (Math.exp(scale * p) + Math.exp(scale * n));
    close(pairProbability(p, n, { scale }), expected, 1e-12);
  }
  assert.equal(pairProbability(0.4, 0.4), 0.5);
  assert.ok(pairProbability(0.41, 0.4) > 0.5);
});
