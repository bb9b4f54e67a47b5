import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import {
  alignment,
  effectiveRank,
  modalityGap,
  normalizedStd,
  prototypeUsage,
  sigregStatistic,
  uniformity,
} from "./geometry.ts";
import { type Matrix, matrixFromRows } from "./linalg.ts";

await tf.setBackend("cpu");

const close = (a: number, b: number, tol = 1e-9, what = "") =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

const axis = (k: number, d: number, scale = 1) =>
  Array.from({ length: d }, (_, j) => (j === k ? scale : 0));

Deno.test("effectiveRank: k equal orthogonal directions → k; collapse → 1; σ = (3, 1) by formula", () => {
  close(effectiveRank(matrixFromRows([axis(0, 5), axis(1, 5), axis(2, 5), axis(3, 5)])), 4, 1e-5);
  close(effectiveRank(matrixFromRows([[1, 2, 3], [1, 2, 3], [1, 2, 3]])), 1, 1e-5);
  // Singular values 3 and 1: p = (3/4, 1/4), rank = exp(−Σ p log p).
  const expected = Math.exp(-(0.75 * Math.log(0.75) + 0.25 * Math.log(0.25)));
  close(effectiveRank(matrixFromRows([[3, 0], [0, 1], [0, 0]])), expected, 1e-5);
  assert.equal(effectiveRank(matrixFromRows([[0, 0], [0, 0]])), 0);
});

Deno.test("normalizedStd: ±axes give exactly 1, a collapsed embedding 0", () => {
  const d = 6;
  const rows = Array.from({ length: d }, (_, k) => [axis(k, d, 2), axis(k, d, -0.5)]).flat();
  close(normalizedStd(matrixFromRows(rows)), 1, 1e-12);
  close(normalizedStd(matrixFromRows([[1, 2], [2, 4], [0.5, 1]])), 0, 1e-12, "same direction");
});

Deno.test("modalityGap, alignment and uniformity: hand cases", () => {
  const a = matrixFromRows([[2, 0], [1, 0]]), b = matrixFromRows([[0, 3], [0, 1]]);
  close(modalityGap(a, b), Math.SQRT2);
  close(modalityGap(a, a), 0);
  close(alignment(a, a), 0);
  close(alignment(a, b), 2, 1e-12, "orthogonal pairs: ‖x̂ − ŷ‖² = 2");
  close(alignment(a, matrixFromRows([[-1, 0], [-5, 0]])), 4, 1e-12, "opposite pairs");
  close(alignment(a, b, { alpha: 1 }), Math.SQRT2);
  // Three points at 120°: every pair has ‖x̂_i − x̂_j‖² = 3 → log exp(−2·3) = −6.
  const tri = matrixFromRows(
    [0, 120, 240].map((deg) => [Math.cos((deg * Math.PI) / 180), Math.sin((deg * Math.PI) / 180)]),
  );
  close(uniformity(tri), -6, 1e-12);
  close(uniformity(matrixFromRows([[1, 1], [2, 2], [3, 3]])), 0, 1e-12, "collapse");
  // Mixed distances: pairs d² = 2, 2, 4 (two axes and an opposite point): log((2e⁻⁴ + e⁻⁸)/3).
  const mixed = matrixFromRows([[1, 0], [0, 1], [-1, 0]]);
  close(uniformity(mixed), Math.log((2 * Math.exp(-4) + Math.exp(-8)) / 3), 1e-12);
  assert.throws(() => alignment(a, matrixFromRows([[1, 0]])), /pairs must have equal shapes/);
});

Deno.test("sigregStatistic: collapse reads 0.40205·N, a Gaussian ≈ 1", async () => {
  const zeros: Matrix = { rows: 10, cols: 4, data: new Float64Array(40) };
  const before = tf.memory().numTensors;
  close(await sigregStatistic(zeros, { slices: 8 }), 4.0205, 2e-3);
  const rng = new Rng(1);
  const gauss: Matrix = {
    rows: 1024,
    cols: 8,
    data: Float64Array.from({ length: 8192 }, () => rng.normal()),
  };
  const stat = await sigregStatistic(gauss, { slices: 64 });
  assert.ok(stat > 0.5 && stat < 2, `${stat}`);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("prototypeUsage: one prototype for all vs an even spread", () => {
  const peaked = matrixFromRows([[1, 0, 0, 0], [0.9, 0, 0.1, 0], [1, 0.2, 0, 0]]);
  const u = prototypeUsage(peaked, { temperature: 0.01 });
  close(u.used, 0.25);
  assert.equal(u.count, 1);
  close(u.perplexity, 0.25, 1e-3);
  const even = matrixFromRows([axis(0, 4), axis(1, 4), axis(2, 4), axis(3, 4)]);
  const e = prototypeUsage(even, { temperature: 0.01 });
  close(e.used, 1);
  assert.equal(e.count, 4);
  close(e.perplexity, 1, 1e-9);
});
