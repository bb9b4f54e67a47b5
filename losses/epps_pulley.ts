/**
 * The Epps–Pulley normality statistic on 1-D projections, the building block of
 * SIGReg (LeJEPA, {@link https://arxiv.org/abs/2511.08544 | arXiv 2511.08544}).
 *
 * For one slice `u ∈ ℝ^N`:
 *
 *   EP(u) = N · ∫ |φ̂(t) − e^{−t²/2}|² e^{−t²/2} dt,  φ̂(t) = mean_n e^{i t uₙ}
 *
 * and in real numbers |φ̂ − φ|² = (mean cos(t u) − e^{−t²/2})² + (mean sin(t u))².
 * The integral is a fixed quadrature (see {@linkcode quadratureNodes}). The
 * gradient is analytic (`tf.customGrad`), so the slices can be processed in
 * chunks in both passes without keeping `[V, N, M, T]` intermediates alive.
 * On WebGPU with novalab's kernels it is one fused kernel each way
 * (`kernels/epps_pulley.ts`) that stores nothing of that size at all.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor1D, Tensor2D, Tensor3D, Tensor4D } from "../core/tensor.ts";
import { fusedEppsPulley, fusedEppsPulleyActive } from "../kernels/epps_pulley.ts";

/**
 * Quadrature rule of the Epps–Pulley integral.
 *
 * - `"code"`: the LeJEPA reference code: t = linspace(0, 3, 17), weights Δt at
 *   both ends and 2Δt inside (Δt = 3/16; the doubling stands for [−3, 0]).
 * - `"paper"`: the paper's Algorithm 1: trapezoid on t = linspace(−5, 5, 17).
 *
 * Both are multiplied by the weight e^{−t²/2}.
 */
export type Quadrature = "code" | "paper";

/** The valid {@linkcode Quadrature} names. */
export const QUADRATURES: readonly Quadrature[] = ["code", "paper"];

/** Nodes and weights of a quadrature, reduced to `t > 0` (see {@linkcode quadratureNodes}). */
export interface QuadratureNodes {
  /** Positive nodes `[T]`. */
  t: Float64Array;
  /** Weights `[T]`, including the factor e^{−t²/2} and the folding of `−t` onto `t`. */
  weights: Float64Array;
}

/** Floats per chunk above which the slices are processed in chunks (2²⁵ ≈ 33.6 M). */
export const DEFAULT_MAX_CHUNK_FLOATS: number = 1 << 25;

/**
 * The nodes of a quadrature rule, reduced to `t > 0` without changing its value:
 * the integrand is even in `t`, so the weight of `−t` is folded onto `t`, and at
 * `t = 0` the integrand is exactly 0 (cos 0 = e⁰ = 1, sin 0 = 0), so that node
 * is dropped. `"code"` keeps 16 nodes, `"paper"` 8.
 *
 * @param kind `"code"` or `"paper"`.
 * @returns Nodes `t` and weights (float64).
 */
export function quadratureNodes(kind: Quadrature): QuadratureNodes {
  const full: { t: number; w: number }[] = [];
  if (kind === "code") {
    const dt = 3 / 16;
    for (let j = 0; j < 17; j++) full.push({ t: j * dt, w: j === 0 || j === 16 ? dt : 2 * dt });
  } else if (kind === "paper") {
    const dt = 10 / 16;
    for (let j = 0; j < 17; j++) {
      full.push({ t: -5 + j * dt, w: j === 0 || j === 16 ? dt / 2 : dt });
    }
  } else {
    throw new Error(
      `Epps–Pulley quadrature "${String(kind)}" is unknown; expected one of: ${
        QUADRATURES.join(", ")
      }`,
    );
  }
  const folded = new Map<number, number>();
  for (const { t, w } of full) {
    const key = Math.abs(t);
    if (key === 0) continue;
    folded.set(key, (folded.get(key) ?? 0) + w * Math.exp(-(t * t) / 2));
  }
  const keys = [...folded.keys()].sort((a, b) => a - b);
  return {
    t: Float64Array.from(keys),
    weights: Float64Array.from(keys, (k) => folded.get(k)!),
  };
}

/** Options of {@linkcode eppsPulley}. */
export interface EppsPulleyOptions {
  /** Quadrature rule (default `"code"`). */
  quadrature?: Quadrature;
  /** Largest `V · N · chunk · T` processed at once (default {@linkcode DEFAULT_MAX_CHUNK_FLOATS}). */
  maxChunkFloats?: number;
}

/** Constants of one evaluation: nodes `[T]`, weights `[T]`, targets e^{−t²/2} `[T]`. */
interface Consts {
  t: Tensor1D;
  w: Tensor1D;
  phi: Tensor1D;
}

/** Column ranges `[start, size]` covering `m` slices, `chunk` at a time. */
function chunks(m: number, chunk: number): [number, number][] {
  const out: [number, number][] = [];
  for (let s = 0; s < m; s += chunk) out.push([s, Math.min(chunk, m - s)]);
  return out;
}

/**
 * cos and sin of `t · u` for a chunk of slices, samples on the last axis so that
 * the mean over samples is a last-axis reduction: `[V, Mc, N]` → two `[V, Mc, T, N]`.
 */
function trig(ut: Tensor3D, t: Tensor1D): [Tensor4D, Tensor4D] {
  const tu = tf.mul(tf.expandDims(ut, 2), tf.reshape(t, [-1, 1])) as Tensor4D;
  return [tf.cos(tu), tf.sin(tu)];
}

/** Empirical characteristic function: `[V, M, N]` → (mean cos, mean sin), each `[V, M, T]`. */
function moments(ut: Tensor3D, c: Consts, chunk: number): [Tensor3D, Tensor3D] {
  const parts = chunks(ut.shape[1], chunk).map(([start, size]) =>
    tf.tidy(() => {
      const [cos, sin] = trig(tf.slice(ut, [0, start, 0], [-1, size, -1]), c.t);
      return [tf.mean(cos, 3), tf.mean(sin, 3)] as [Tensor3D, Tensor3D];
    })
  );
  if (parts.length === 1) return parts[0]!;
  const out = [0, 1].map((i) => tf.concat(parts.map((p) => p[i]!), 1) as Tensor3D);
  parts.forEach((p) => tf.dispose(p));
  return out as [Tensor3D, Tensor3D];
}

/** Statistic from the moments: N · Σ_t w (C − φ)² + S² → `[V, M]`. */
function statistic(cos: Tensor3D, sin: Tensor3D, c: Consts, n: number): Tensor2D {
  const err = tf.add(tf.square(tf.sub(cos, c.phi)), tf.square(sin));
  return tf.mul(tf.sum(tf.mul(err, c.w), 2), n) as Tensor2D;
}

/** Σ_t coef[v, m, t] · trig[v, m, t, n] as a batched `[1, T] × [T, N]` product → `[V, Mc, N]`. */
function contract(coef: Tensor3D, values: Tensor4D): Tensor3D {
  const [v, mc, t, n] = values.shape;
  const out = tf.matMul(tf.reshape(coef, [v * mc, 1, t]), tf.reshape(values, [v * mc, t, n]));
  return tf.reshape(out, [v, mc, n]);
}

/**
 * ∂/∂u of Σ_m dy_m EP_m, chunk by chunk, from the saved transposed projections
 * `[V, M, N]`: 2 dy_m Σ_t w t [S cos(t u) − (C − φ) sin(t u)] → `[V, N, M]`.
 */
function gradient(
  dy: Tensor2D,
  saved: { ut: Tensor3D; cos: Tensor3D; sin: Tensor3D; c: Consts; chunk: number },
): Tensor3D {
  const { c, chunk } = saved;
  const scale = tf.tidy(() => tf.mul(tf.expandDims(dy, 2), tf.mul(c.w, tf.mul(c.t, 2))));
  const a = tf.mul(saved.sin, scale) as Tensor3D; // coefficient of cos(t u)
  const b = tf.mul(tf.sub(saved.cos, c.phi), tf.neg(scale)) as Tensor3D; // of sin(t u)
  const parts = chunks(saved.ut.shape[1], chunk).map(([start, size]) =>
    tf.tidy(() => {
      const [cos, sin] = trig(tf.slice(saved.ut, [0, start, 0], [-1, size, -1]), c.t);
      const coef = (x: Tensor3D) => tf.slice(x, [0, start, 0], [-1, size, -1]);
      return tf.add(contract(coef(a), cos), contract(coef(b), sin)) as Tensor3D;
    })
  );
  tf.dispose([scale, a, b]);
  const out = tf.transpose(parts.length === 1 ? parts[0]! : tf.concat(parts, 1), [0, 2, 1]);
  tf.dispose(parts);
  return out as Tensor3D;
}

/**
 * Epps–Pulley statistic of every slice: `u` `[V, N, M]` (V views, N samples,
 * M slices; each view is tested over its own N) → `[V, M]`.
 *
 * Memory: the `V · N · M · T` cos/sin intermediates are built `chunk` slices
 * at a time, with `V · N · chunk · T ≤ maxChunkFloats`; the backward pass
 * recomputes them per chunk from the saved projections, so chunking changes
 * neither value nor gradient, and only `[V, N, M]` and `[V, M, T]` tensors are
 * kept for the backward pass.
 *
 * @param u Projections `[V, N, M]`, float32.
 * @param options Quadrature and chunk size.
 * @returns Statistics `[V, M]` (≈ 1 per slice for i.i.d. N(0, 1) samples).
 */
export function eppsPulley(u: Tensor3D, options: EppsPulleyOptions = {}): Tensor2D {
  if (u.rank !== 3) {
    throw new Error(
      `eppsPulley expects projections [V, N, M], got shape [${u.shape.join(", ")}]`,
    );
  }
  const nodes = quadratureNodes(options.quadrature ?? "code");
  if (fusedEppsPulleyActive(u, nodes.t.length)) {
    return fusedEppsPulley(u, { t: [...nodes.t], weights: [...nodes.weights] });
  }
  const [v, n] = u.shape;
  const maxFloats = options.maxChunkFloats ?? DEFAULT_MAX_CHUNK_FLOATS;
  const chunk = Math.max(1, Math.floor(maxFloats / (v * n * nodes.t.length)));
  const run = tf.customGrad((x, save) => {
    const c: Consts = {
      t: tf.tensor1d(Float32Array.from(nodes.t)),
      w: tf.tensor1d(Float32Array.from(nodes.weights)),
      phi: tf.tensor1d(Float32Array.from(nodes.t, (t) => Math.exp(-(t * t) / 2))),
    };
    const ut = tf.transpose(x as Tensor3D, [0, 2, 1]);
    const [cos, sin] = moments(ut, c, chunk);
    (save as GradSaveFunc)([ut, cos, sin, c.t, c.w, c.phi]);
    return {
      value: statistic(cos, sin, c, n),
      gradFunc: (dy, saved) => {
        const [ut, scos, ssin, t, w, phi] = saved as [
          Tensor3D,
          Tensor3D,
          Tensor3D,
          Tensor1D,
          Tensor1D,
          Tensor1D,
        ];
        const c = { t, w, phi };
        return gradient(dy as Tensor2D, { ut, cos: scos, sin: ssin, c, chunk });
      },
    };
  });
  return run(u) as Tensor2D;
}
