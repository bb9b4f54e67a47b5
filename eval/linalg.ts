/**
 * Small dense linear algebra in plain JavaScript (float64) for evaluation and
 * diagnostics: row-major matrices, row normalisation, `XᵀX`, the symmetric
 * eigen-decomposition (cyclic Jacobi) and PCA. Sizes here are embedding
 * widths (D ≤ ~1000), so O(D³) is fine and results do not depend on the
 * tensor backend.
 *
 * @module
 */
import type { Tensor } from "../core/tensor.ts";

/** A dense row-major matrix: element `(i, j)` is `data[i * cols + j]`. */
export interface Matrix {
  /** Number of rows (samples). */
  rows: number;
  /** Number of columns (features). */
  cols: number;
  /** `rows * cols` values, row-major. */
  data: Float64Array;
}

/**
 * A matrix from nested arrays.
 *
 * @param rows Equal-length rows (at least one).
 * @returns The `[rows.length, rows[0].length]` matrix.
 */
export function matrixFromRows(rows: readonly (readonly number[])[]): Matrix {
  const cols = rows[0]?.length ?? 0;
  const data = new Float64Array(rows.length * cols);
  rows.forEach((row, i) => {
    if (row.length !== cols) {
      throw new Error(`matrixFromRows: row ${i} has ${row.length} values, expected ${cols}`);
    }
    data.set(row, i * cols);
  });
  return { rows: rows.length, cols, data };
}

/**
 * Reads a rank-2 tensor `[N, D]` into a {@link Matrix} (asynchronously, so it
 * works on WebGPU). The tensor is not disposed.
 */
export async function tensorToMatrix(t: Tensor): Promise<Matrix> {
  if (t.rank !== 2) {
    throw new Error(`tensorToMatrix: expected a rank-2 tensor [N, D], got [${t.shape.join(", ")}]`);
  }
  const [rows, cols] = t.shape as [number, number];
  return { rows, cols, data: Float64Array.from(await t.data()) };
}

/** Row `i` of `m` as a view (no copy). */
export function row(m: Matrix, i: number): Float64Array {
  return m.data.subarray(i * m.cols, (i + 1) * m.cols);
}

/** Each row divided by its L2 norm (all-zero rows stay zero). */
export function normalizeRows(m: Matrix): Matrix {
  const data = new Float64Array(m.data.length);
  for (let i = 0; i < m.rows; i++) {
    const r = row(m, i);
    let sq = 0;
    for (const v of r) sq += v * v;
    const inv = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let j = 0; j < m.cols; j++) data[i * m.cols + j] = r[j]! * inv;
  }
  return { rows: m.rows, cols: m.cols, data };
}

/** Column means `[D]`. */
export function columnMeans(m: Matrix): Float64Array {
  const mean = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) mean[j]! += m.data[i * m.cols + j]!;
  }
  return mean.map((v) => v / Math.max(m.rows, 1));
}

/** Population standard deviation of each column `[D]`. */
export function columnStds(m: Matrix): Float64Array {
  const mean = columnMeans(m);
  const sq = new Float64Array(m.cols);
  for (let i = 0; i < m.rows; i++) {
    for (let j = 0; j < m.cols; j++) sq[j]! += (m.data[i * m.cols + j]! - mean[j]!) ** 2;
  }
  return sq.map((v) => Math.sqrt(v / Math.max(m.rows, 1)));
}

/** Dot product of two equal-length vectors. */
export function dot(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i]! * b[i]!;
  return s;
}

/**
 * `XᵀX` `[D, D]` of `x` `[N, D]`, after subtracting the column means when
 * `center` (then it is N times the population covariance).
 */
export function crossProduct(x: Matrix, options: { center?: boolean } = {}): Matrix {
  const d = x.cols;
  const mean = options.center ? columnMeans(x) : new Float64Array(d);
  const out = new Float64Array(d * d);
  const r = new Float64Array(d);
  for (let i = 0; i < x.rows; i++) {
    for (let j = 0; j < d; j++) r[j] = x.data[i * d + j]! - mean[j]!;
    for (let a = 0; a < d; a++) {
      const ra = r[a]!;
      if (ra === 0) continue;
      for (let b = a; b < d; b++) out[a * d + b]! += ra * r[b]!;
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) out[a * d + b] = out[b * d + a]!;
  return { rows: d, cols: d, data: out };
}

/** `X Xᵀ` `[N, N]` of `x` `[N, D]` (the Gram matrix). */
export function gram(x: Matrix): Matrix {
  const n = x.rows;
  const out = new Float64Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let j = i; j < n; j++) {
      out[i * n + j] = out[j * n + i] = dot(row(x, i), row(x, j));
    }
  }
  return { rows: n, cols: n, data: out };
}

/** Eigenvalues (descending) and, optionally, unit eigenvectors as the columns of `vectors`. */
export interface Eigen {
  /** Eigenvalues, largest first. */
  values: Float64Array;
  /** `[n, n]`, column k the eigenvector of `values[k]` (when requested). */
  vectors?: Matrix;
}

/** One Jacobi rotation zeroing `a[p][q]`; applies it to `a` (and `v` when given). */
function rotate(a: Float64Array, n: number, at: { p: number; q: number; v?: Float64Array }): void {
  const { p, q, v } = at;
  const apq = a[p * n + q]!;
  const theta = (a[q * n + q]! - a[p * n + p]!) / (2 * apq);
  const t = (theta >= 0 ? 1 : -1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
  const c = 1 / Math.sqrt(t * t + 1), s = t * c;
  for (let k = 0; k < n; k++) { // columns p, q
    const akp = a[k * n + p]!, akq = a[k * n + q]!;
    a[k * n + p] = c * akp - s * akq;
    a[k * n + q] = s * akp + c * akq;
  }
  for (let k = 0; k < n; k++) { // rows p, q
    const apk = a[p * n + k]!, aqk = a[q * n + k]!;
    a[p * n + k] = c * apk - s * aqk;
    a[q * n + k] = s * apk + c * aqk;
  }
  if (!v) return;
  for (let k = 0; k < n; k++) {
    const vkp = v[k * n + p]!, vkq = v[k * n + q]!;
    v[k * n + p] = c * vkp - s * vkq;
    v[k * n + q] = s * vkp + c * vkq;
  }
}

/** Sum of squares of the off-diagonal entries, and of all entries. */
function offDiagonal(a: Float64Array, n: number): { off: number; total: number } {
  let off = 0, total = 0;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < n; j++) {
      const sq = a[i * n + j]! ** 2;
      total += sq;
      if (i !== j) off += sq;
    }
  }
  return { off, total };
}

/**
 * Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations
 * (converges quadratically; accurate to ~1e-12 relative).
 *
 * @param m A symmetric `[n, n]` matrix (only symmetry is assumed, not definiteness).
 * @param options `vectors: true` also returns the eigenvectors.
 * @returns Eigenvalues in descending order (and matching eigenvectors).
 */
export function symmetricEigen(m: Matrix, options: { vectors?: boolean } = {}): Eigen {
  const n = m.rows;
  if (m.cols !== n) {
    throw new Error(`symmetricEigen: expected a square matrix, got [${n}, ${m.cols}]`);
  }
  const a = Float64Array.from(m.data);
  const v = options.vectors ? new Float64Array(n * n) : undefined;
  for (let i = 0; v && i < n; i++) v[i * n + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    const { off, total } = offDiagonal(a, n);
    if (off <= 1e-30 * Math.max(total, 1e-300)) break;
    for (let p = 0; p < n - 1; p++) {
      for (let q = p + 1; q < n; q++) if (a[p * n + q] !== 0) rotate(a, n, { p, q, v });
    }
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((i, j) =>
    a[j * n + j]! - a[i * n + i]!
  );
  const values = Float64Array.from(order, (i) => a[i * n + i]!);
  if (!v) return { values };
  const vectors = new Float64Array(n * n);
  order.forEach((src, k) => {
    for (let r = 0; r < n; r++) vectors[r * n + k] = v[r * n + src]!;
  });
  return { values, vectors: { rows: n, cols: n, data: vectors } };
}

/**
 * Singular values of `x` `[N, D]` (descending, `min(N, D)` of them), from the
 * eigenvalues of the smaller of `XᵀX` and `XXᵀ`.
 */
export function singularValues(x: Matrix): Float64Array {
  const small = x.rows >= x.cols ? crossProduct(x) : gram(x);
  return symmetricEigen(small).values.map((l) => Math.sqrt(Math.max(l, 0)));
}

/** Result of {@link pca}. */
export interface Projection {
  /** Centred data projected on the leading components `[N, k]`. */
  points: Matrix;
  /** Fraction of the total variance each component explains `[k]`. */
  explained: number[];
}

/**
 * Principal component analysis: centres `x` `[N, D]` and projects it on the
 * `components` leading eigenvectors of its covariance. Each component's sign
 * is fixed so that its largest-magnitude loading is positive (deterministic).
 */
export function pca(x: Matrix, options: { components?: number } = {}): Projection {
  const k = Math.min(options.components ?? 2, x.cols);
  const { values, vectors } = symmetricEigen(crossProduct(x, { center: true }), { vectors: true });
  const d = x.cols;
  const basis = vectors!.data;
  const signs = Array.from({ length: k }, (_, c) => {
    let best = 0;
    for (let r = 0; r < d; r++) {
      if (Math.abs(basis[r * d + c]!) > Math.abs(best)) best = basis[r * d + c]!;
    }
    return best < 0 ? -1 : 1;
  });
  const mean = columnMeans(x);
  const points = new Float64Array(x.rows * k);
  for (let i = 0; i < x.rows; i++) {
    for (let c = 0; c < k; c++) {
      let s = 0;
      for (let r = 0; r < d; r++) s += (x.data[i * d + r]! - mean[r]!) * basis[r * d + c]!;
      points[i * k + c] = s * signs[c]!;
    }
  }
  const total = values.reduce((s, l) => s + Math.max(l, 0), 0);
  const explained = Array.from(values.slice(0, k), (l) => (total > 0 ? Math.max(l, 0) / total : 0));
  return { points: { rows: x.rows, cols: k, data: points }, explained };
}

/** `A Bᵀ` `[N, M]` of `a` `[N, D]` and `b` `[M, D]` (e.g. cosine scores of unit rows). */
export function matMulTransposed(a: Matrix, b: Matrix): Matrix {
  if (a.cols !== b.cols) {
    throw new Error(
      `matMulTransposed: widths differ: [${a.rows}, ${a.cols}] vs [${b.rows}, ${b.cols}]`,
    );
  }
  const data = new Float64Array(a.rows * b.rows);
  for (let i = 0; i < a.rows; i++) {
    const ai = row(a, i);
    for (let j = 0; j < b.rows; j++) data[i * b.rows + j] = dot(ai, row(b, j));
  }
  return { rows: a.rows, cols: b.rows, data };
}

/** The rows of `m` at `indices`, in that order `[indices.length, D]`. */
export function selectRows(m: Matrix, indices: ArrayLike<number>): Matrix {
  const data = new Float64Array(indices.length * m.cols);
  for (let r = 0; r < indices.length; r++) data.set(row(m, indices[r]!), r * m.cols);
  return { rows: indices.length, cols: m.cols, data };
}
