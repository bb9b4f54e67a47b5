/**
 * Test cases shared by several kernel tests: the log-sum-exp and Epps–Pulley
 * value-and-gradient cases (run against their references on several
 * backends), row-major matrix-product calls of the generated WASM `gemm`, and
 * reading tensors as bits.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor1D, Tensor3D } from "../core/tensor.ts";
import { eppsPulley, type Quadrature } from "../losses/epps_pulley.ts";
import { GEMM_A_COLUMNS, GEMM_BIAS } from "./wasm_gemm.ts";
import type { GemmCall } from "./wasm_gemm_split.ts";
import { assertClose, values } from "./testing.ts";

/** `tf.logSumExp` over `axis` of a matrix: the reference of `kernels/logsumexp.ts`. */
export const lseReference = (x: tf.Tensor, axis: 0 | 1): Tensor1D =>
  tf.logSumExp(x, axis) as Tensor1D;

/**
 * LSE over `axis` and the gradient of Σ lse·w, by `lse`; logits of scale 30
 * with a masked (−10⁹) diagonal.
 */
export function lseAndGrad(
  shape: [number, number],
  axis: 0 | 1,
  lse: (x: tf.Tensor, axis: 0 | 1) => Tensor1D,
): () => tf.Tensor[] {
  return () => {
    const [r, c] = shape;
    const v = values(r * c, 21).map((x) => 30 * x);
    for (let i = 0; i < Math.min(r, c); i++) v[i * c + i] = -1e9;
    const x = tf.tensor2d(v, shape);
    const w = tf.tensor1d(values(axis === 1 ? r : c, 22));
    return [lse(x, axis), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(lse(a, axis), w)))(x)];
  };
}

/** The Epps–Pulley statistic of `scale`-sized projections `shape` and the gradient of Σ EP·w. */
export function eppsPulleyAndGrad(
  shape: [number, number, number],
  quadrature: Quadrature,
  scale = 2.5,
): () => tf.Tensor[] {
  return () => {
    const size = shape[0] * shape[1] * shape[2];
    const u = tf.tensor3d(values(size, 7).map((x) => scale * x), shape);
    const w = tf.tensor2d(values(shape[0] * shape[2], 8), [shape[0], shape[2]]);
    const stat = eppsPulley(u, { quadrature });
    const grad = tf.grad((x: tf.Tensor) =>
      tf.sum(tf.mul(eppsPulley(x as Tensor3D, { quadrature }), w))
    )(u);
    return [stat, grad];
  };
}

/**
 * The fused Epps–Pulley's tolerances against the composition: statistic
 * (sums of N cosines in f32, error growing like √N·ε) and gradient.
 */
export function assertEppsPulleyClose(
  actual: Float32Array[],
  expected: Float32Array[],
  what: string,
  samples: number,
): void {
  assertClose(actual[0]!, expected[0]!, `${what} EP`, { atol: 2e-5 * samples, rtol: 1e-4 });
  assertClose(actual[1]!, expected[1]!, `${what} dEP/du`, { atol: 2e-5, rtol: 2e-4 });
}

/** Sizes, batches and flags of a product (`GEMM_A_COLUMNS`: A stored transposed per sample). */
export interface ProductShape {
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** Depth. */
  K: number;
  /** Outer batch. */
  G1: number;
  /** Inner batch. */
  G2: number;
  /** `GEMM_*` flags. */
  flags: number;
}

/**
 * The `gemm` call of a row-major `[G1, G2, M, K]·[G1, G2, K, N]` product (A
 * `[G1, G2, K, M]` with `GEMM_A_COLUMNS`) at the given byte addresses.
 */
export function rowMajorGemmCall(
  p: ProductShape,
  at: { A: number; B: number; C: number; bias: number; scratch: number },
  alpha = 1,
): GemmCall {
  const { M, N, K, G1, G2, flags } = p;
  const columns = (flags & GEMM_A_COLUMNS) !== 0;
  return {
    M,
    N,
    K,
    A: at.A,
    sam: columns ? 1 : K,
    sak: columns ? M : 1,
    B: at.B,
    sbk: N,
    sbn: 1,
    C: at.C,
    ldc: N,
    bias: flags & GEMM_BIAS ? at.bias : 0,
    flags,
    G1,
    G2,
    sa1: G2 * M * K,
    sa2: M * K,
    sb1: G2 * K * N,
    sb2: K * N,
    sc1: G2 * M * N,
    sc2: M * N,
    scratch: at.scratch,
    alpha,
  };
}

/** The float32 data of `tensors` as bits (for exact comparisons), then disposes them. */
export function takeBits(tensors: tf.Tensor[]): Uint32Array[] {
  const bits = tensors.map((t) => new Uint32Array((t.dataSync() as Float32Array).slice().buffer));
  tf.dispose(tensors);
  return bits;
}
