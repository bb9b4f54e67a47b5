import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import {
  columnMeans,
  columnStds,
  crossProduct,
  gram,
  type Matrix,
  matrixFromRows,
  normalizeRows,
  pca,
  row,
  singularValues,
  symmetricEigen,
  tensorToMatrix,
} from "./linalg.ts";

await tf.setBackend("cpu");

const close = (a: number, b: number, tol = 1e-9, what = "") =>
  assert.ok(Math.abs(a - b) <= tol, `${what} ${a} vs ${b}`);

function randomMatrix(rows: number, cols: number, seed: number): Matrix {
  const rng = new Rng(seed);
  return { rows, cols, data: Float64Array.from({ length: rows * cols }, () => rng.normal()) };
}

Deno.test("symmetricEigen: hand cases", () => {
  const { values, vectors } = symmetricEigen(matrixFromRows([[2, 1], [1, 2]]), { vectors: true });
  close(values[0]!, 3);
  close(values[1]!, 1);
  // Eigenvector of 3 is ±(1, 1)/√2.
  close(Math.abs(vectors!.data[0]!), Math.SQRT1_2);
  close(vectors!.data[0]!, vectors!.data[2]!);
  const diag = symmetricEigen(matrixFromRows([[1, 0, 0], [0, -4, 0], [0, 0, 2]]));
  assert.deepEqual([...diag.values], [2, 1, -4]);
});

Deno.test("symmetricEigen: A v = λ v, orthonormal vectors, Σλ = trace on a random 12×12", () => {
  const x = randomMatrix(20, 12, 1);
  const a = crossProduct(x);
  const n = 12;
  const { values, vectors } = symmetricEigen(a, { vectors: true });
  let trace = 0;
  for (let i = 0; i < n; i++) trace += a.data[i * n + i]!;
  close(values.reduce((s, l) => s + l, 0), trace, 1e-8);
  for (let k = 0; k < n; k++) {
    if (k > 0) assert.ok(values[k - 1]! >= values[k]!);
    for (let i = 0; i < n; i++) {
      let av = 0;
      for (let j = 0; j < n; j++) av += a.data[i * n + j]! * vectors!.data[j * n + k]!;
      close(av, values[k]! * vectors!.data[i * n + k]!, 1e-8, `A v row ${i} col ${k}`);
    }
    for (let l = 0; l < n; l++) {
      let d = 0;
      for (let i = 0; i < n; i++) d += vectors!.data[i * n + k]! * vectors!.data[i * n + l]!;
      close(d, k === l ? 1 : 0, 1e-10);
    }
  }
});

Deno.test("singularValues: known diagonal case, and XᵀX vs XXᵀ agree", () => {
  // Rows scaled unit vectors: singular values are the scales.
  const x = matrixFromRows([[3, 0, 0], [0, 0, -2], [0, 0.5, 0], [0, 0, 0]]);
  const sv = singularValues(x);
  [3, 2, 0.5].forEach((s, i) => close(sv[i]!, s, 1e-12));
  const wide = randomMatrix(5, 9, 2); // N < D uses XXᵀ
  const tall = { rows: 9, cols: 5, data: new Float64Array(45) };
  for (let i = 0; i < 5; i++) {
    for (let j = 0; j < 9; j++) tall.data[j * 5 + i] = wide.data[i * 9 + j]!;
  }
  const [a, b] = [singularValues(wide), singularValues(tall)];
  assert.equal(a.length, 5);
  a.forEach((s, i) => close(s, b[i]!, 1e-9));
  // Frobenius norm² = Σσ².
  close(a.reduce((s, v) => s + v * v, 0), wide.data.reduce((s, v) => s + v * v, 0), 1e-9);
});

Deno.test("row helpers: normalise, means, stds, gram", () => {
  const m = matrixFromRows([[3, 4], [0, 0], [1, 0]]);
  normalizeRows(m).data.forEach((v, i) => close(v, [0.6, 0.8, 0, 0, 1, 0][i]!, 1e-15));
  assert.deepEqual([...columnMeans(m)], [4 / 3, 4 / 3]);
  close(columnStds(m)[1]!, Math.sqrt((16 * 4 / 9 + 16 / 9 + 16 / 9) / 3));
  assert.deepEqual([...gram(m).data], [25, 0, 3, 0, 0, 0, 3, 0, 1]);
  assert.deepEqual([...row(m, 2)], [1, 0]);
  assert.throws(() => matrixFromRows([[1, 2], [3]]), /row 1 has 1 values, expected 2/);
});

Deno.test("pca: points on a line project onto one component that explains everything", () => {
  // x = t · (1, 2, 2)/3 + (5, 5, 5): one direction of variance.
  const ts = [-2, -1, 0, 1, 2];
  const x = matrixFromRows(ts.map((t) => [5 + t / 3, 5 + (2 * t) / 3, 5 + (2 * t) / 3]));
  const { points, explained } = pca(x);
  close(explained[0]!, 1, 1e-12);
  close(explained[1]!, 0, 1e-12);
  // Sign convention: the largest loading (0.667) is positive, so t maps to +t.
  ts.forEach((t, i) => {
    close(points.data[i * 2]!, t, 1e-9);
    close(points.data[i * 2 + 1]!, 0, 1e-9);
  });
});

Deno.test("tensorToMatrix reads [N, D] and rejects other ranks", async () => {
  const t = tf.tensor2d([[1, 2, 3], [4, 5, 6]]);
  const m = await tensorToMatrix(t);
  assert.deepEqual([m.rows, m.cols, [...m.data]], [2, 3, [1, 2, 3, 4, 5, 6]]);
  t.dispose();
  const v = tf.ones([2, 2, 2]);
  await assert.rejects(tensorToMatrix(v), /expected a rank-2 tensor \[N, D\], got \[2, 2, 2\]/);
  v.dispose();
});
