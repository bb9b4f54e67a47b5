/**
 * Matrix products and linear layers on tfjs's WASM backend through the
 * generated SIMD GEMM (`kernels/wasm_gemm.ts`): every transpose variant is
 * read in place (no transpose copies), rank-3 operands are batched, and a
 * linear layer's bias and ReLU are applied in the GEMM's epilogue. Gradients
 * (`tf.customGrad`) are products of the same kernel; a bias gradient is a
 * column sum, a ReLU gradient a mask of the output (one SIMD pass for both,
 * `kernels/wasm_rows.ts`).
 *
 * Measured on this project's 2-core machine (docs/benchmarks.md): 43–52
 * GFLOP/s on the ViT's shapes, against 8–35 for tfjs-wasm's XNNPACK path
 * (non-batched, non-transposed only) and ~2.6 for its batched fallback.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import { GEMM_A_COLUMNS, GEMM_BIAS, GEMM_RELU, gemmScratchFloats } from "./wasm_gemm.ts";
import {
  registerWasmKernels,
  requireFloat32,
  runWasmKernel,
  type WasmKernelSpec,
} from "./wasm_register.ts";
import { runBlockParts, threadedRows } from "./wasm_row_parts.ts";

/** Kernel name of the product `op(a)·op(b) (+ bias) (ReLU)`. */
export const WASM_MATMUL = "NovalabWasmMatMul";
/**
 * Kernel name of a linear layer's bias gradient: `[dy] → [Σ dy]` (sum over
 * every axis but the last), or `[dy, y] → [g, Σ g]` with `g = dy ⊙ (y > 0)`
 * behind a ReLU epilogue (`grad_prologue`, `kernels/wasm_rows.ts`).
 */
export const WASM_BIAS_GRAD = "NovalabWasmBiasGrad";

/** Product shapes: `[G?, M, K]·[G?, K, N]` after the transpose flags. */
function productGeometry(a: tf.TensorInfo, b: tf.TensorInfo, ta: boolean, tb: boolean) {
  const batched = a.shape.length === 3;
  const [ra, ca] = a.shape.slice(-2) as [number, number];
  const [rb, cb] = b.shape.slice(-2) as [number, number];
  const M = ta ? ca : ra, K = ta ? ra : ca, N = tb ? rb : cb;
  const G = batched ? a.shape[0]! : 1;
  if (
    a.shape.length !== b.shape.length || (tb ? cb : rb) !== K ||
    (batched && b.shape[0] !== G) || !(a.shape.length === 2 || batched)
  ) {
    throw new Error(
      `kernels/wasm_matmul.ts: cannot multiply [${a.shape}]${ta ? "ᵀ" : ""} by ` +
        `[${b.shape}]${tb ? "ᵀ" : ""}; expected rank-2 operands or rank-3 with equal batch, ` +
        "inner sizes equal",
    );
  }
  return { M, K, N, G, batched };
}

const matMulKernel: WasmKernelSpec = {
  name: WASM_MATMUL,
  run({ a, b, bias }, attrs, k) {
    const ta = Boolean(attrs.transposeA), tb = Boolean(attrs.transposeB);
    requireFloat32(a!, "a");
    requireFloat32(b!, "b");
    const { M, K, N, G, batched } = productGeometry(a!, b!, ta, tb);
    const out = k.backend.makeOutput(batched ? [G, M, N] : [M, N], "float32");
    if (M * N * G === 0) return out;
    const relu = Boolean(attrs.relu);
    if (K === 0) {
      const v = k.view(out);
      const bv = bias ? k.view(bias) : undefined;
      for (let i = 0; i < v.length; i++) {
        const x = bv ? bv[i % N]! : 0;
        v[i] = relu ? Math.max(x, 0) : x;
      }
      return out;
    }
    const scratch = k.scratch(gemmScratchFloats(N));
    const flags = (ta ? GEMM_A_COLUMNS : 0) | (bias ? GEMM_BIAS : 0) | (relu ? GEMM_RELU : 0);
    k.gemm({
      M,
      N,
      K,
      A: k.address(a!),
      sam: ta ? 1 : K,
      sak: ta ? M : 1,
      B: k.address(b!),
      sbk: tb ? 1 : N,
      sbn: tb ? K : 1,
      C: k.address(out),
      ldc: N,
      bias: bias ? k.address(bias) : 0,
      flags,
      G1: G,
      G2: 1,
      sa1: M * K,
      sa2: 0,
      sb1: K * N,
      sb2: 0,
      sc1: M * N,
      sc2: 0,
      scratch,
      alpha: 1,
    });
    return out;
  },
};

const biasGradKernel: WasmKernelSpec = {
  name: WASM_BIAS_GRAD,
  run({ dy, y }, _attrs, k) {
    requireFloat32(dy!, "dy");
    const cols = dy!.shape.at(-1) ?? 1;
    const rows = cols === 0 ? 0 : dy!.shape.reduce((p, d) => p * d, 1) / cols;
    const sums = k.backend.makeOutput([cols], "float32");
    const masked = y ? k.backend.makeOutput(dy!.shape, "float32") : undefined;
    const [dya, ya, outa] = [k.address(dy!), y ? k.address(y) : 0, masked ? k.address(masked) : 0];
    if (!threadedRows(k, rows, cols)) {
      k.fns.grad_prologue!(dya, ya, outa, rows, cols, k.address(sums), k.scratch(cols));
      return masked ? [masked, sums] : [sums];
    }
    const at = (base: number, start: number) => (base ? base + 4 * start * cols : 0);
    runBlockParts(k, {
      fn: "grad_prologue_parts",
      rows,
      width: cols,
      args: (
        start,
        count,
        parts,
      ) => [at(dya, start), at(ya, start), at(outa, start), count, cols, parts],
      sums: [k.address(sums)],
    });
    return masked ? [masked, sums] : [sums];
  },
};

function ensureKernels(): void {
  registerWasmKernels([matMulKernel, biasGradKernel]);
}

/** `op(a)·op(b)` with the WASM GEMM (no gradient; see {@linkcode wasmMatMul}). */
function product(a: Tensor, b: Tensor, ta: boolean, tb: boolean): Tensor {
  return runWasmKernel(WASM_MATMUL, { a, b }, { transposeA: ta, transposeB: tb }) as Tensor;
}

const differentiable = new Map<string, (a: Tensor, b: Tensor) => Tensor>();

function differentiableProduct(ta: boolean, tb: boolean): (a: Tensor, b: Tensor) => Tensor {
  const key = `${ta}${tb}`;
  let f = differentiable.get(key);
  if (f) return f;
  f = tf.customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const [a, b, save] = args as [Tensor, Tensor, GradSaveFunc];
    save([a, b]);
    return {
      value: product(a, b, ta, tb),
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sa, sb] = saved as [Tensor, Tensor];
        // tfjs's BatchMatMul gradients, every product in place.
        if (!ta && !tb) return [product(dy, sb, false, true), product(sa, dy, true, false)];
        if (!ta && tb) return [product(dy, sb, false, false), product(dy, sa, true, false)];
        if (ta && !tb) return [product(sb, dy, false, true), product(sa, dy, false, false)];
        return [product(sb, dy, true, true), product(dy, sa, true, true)];
      },
    };
  }) as unknown as (a: Tensor, b: Tensor) => Tensor;
  differentiable.set(key, f);
  return f;
}

/**
 * `op(a)·op(b)` for rank-2 operands or rank-3 operands with equal batch,
 * differentiable in both, on the wasm backend (callers check
 * `wasmKernelsActive()`, `kernels/wasm_runtime.ts`).
 */
export function wasmMatMul(
  a: Tensor,
  b: Tensor,
  options: { transposeA?: boolean; transposeB?: boolean } = {},
): Tensor {
  ensureKernels();
  productGeometry(a, b, options.transposeA ?? false, options.transposeB ?? false);
  return differentiableProduct(options.transposeA ?? false, options.transposeB ?? false)(a, b);
}

/** Sum of float32 `x` over every axis but the last, `[..., C]` → `[C]`. */
export function wasmColumnSum(x: Tensor): Tensor {
  ensureKernels();
  return (runWasmKernel(WASM_BIAS_GRAD, { dy: x }) as Tensor[])[0]!;
}

const linears = new Map<string, (...t: Tensor[]) => Tensor>();

function differentiableLinear(withBias: boolean, relu: boolean): (...t: Tensor[]) => Tensor {
  const key = `${withBias}${relu}`;
  let f = linears.get(key);
  if (f) return f;
  f = tf.customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const save = args.pop() as GradSaveFunc;
    const [x, w, bias] = args as Tensor[];
    const y = runWasmKernel(WASM_MATMUL, bias ? { a: x!, b: w!, bias } : { a: x!, b: w! }, {
      relu,
    }) as Tensor;
    save(relu ? [x!, w!, y] : [x!, w!]);
    return {
      value: y,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sx, sw, sy] = saved as Tensor[];
        // One pass: the ReLU mask of dy (when there is one) and the bias gradient.
        const [g, db] = relu
          ? runWasmKernel(WASM_BIAS_GRAD, { dy, y: sy! }) as Tensor[]
          : [dy, withBias ? wasmColumnSum(dy) : undefined];
        const grads = [product(g!, sw!, false, true), product(sx!, g!, true, false)];
        if (withBias) grads.push(db!);
        else db?.dispose();
        return grads;
      },
    };
  }) as unknown as (...t: Tensor[]) => Tensor;
  linears.set(key, f);
  return f;
}

/**
 * `x·w (+ bias) (ReLU)` for `x` `[R, in]`, `w` `[in, out]`, `bias` `[out]`:
 * one GEMM with the bias and ReLU in its epilogue, differentiable in all
 * inputs (gradients: two GEMMs, a column sum, a ReLU mask).
 */
export function wasmLinear(x: Tensor, w: Tensor, bias: Tensor | undefined, relu: boolean): Tensor {
  ensureKernels();
  productGeometry(x, w, false, false);
  const f = differentiableLinear(bias !== undefined, relu);
  return bias ? f(x, w, bias) : f(x, w);
}
