/**
 * Multi-head self-attention `softmax(QKᵀ/√d)V` on tfjs's WASM backend, read
 * straight from the fused QKV projection `[N, T, 3D]` (columns `[q | k | v]`,
 * head `h` at `h·d … h·d + d − 1` in each) and written straight into the
 * merged `[N, T, D]` layout: the generated GEMM (`kernels/wasm_gemm.ts`)
 * walks heads by strides, so the split, the head transposes and their
 * gradients are gone. The probabilities `[N, H, T, T]` are materialised by the
 * same kernel call as the scores (the scaled product, then the key bias and the
 * row softmax in place, `kernels/wasm_softmax.ts`) and kept for the backward
 * pass, which is one kernel:
 * `dP = dO·Vᵀ`, `dV = Pᵀ·dO`, `dS = P ⊙ (dP − Σ dP⊙P / Σ P)`, `dQ = dS·K/√d`,
 * `dK = dSᵀ·Q/√d`, written into one `[N, T, 3D]` gradient.
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";
import type { Tensor } from "../core/tensor.ts";
import { constantKeyBiasAttention, type KeyBiasedAttention } from "./attention_grad.ts";
import { GEMM_A_COLUMNS, gemmScratchFloats } from "./wasm_gemm.ts";
import type { WasmKernels } from "./wasm_runtime.ts";
import { cutRanges } from "./wasm_threads.ts";
import { softmaxRowsInPlace } from "./wasm_softmax.ts";
import {
  registerWasmKernels,
  requireFloat32,
  runWasmKernel,
  type WasmKernelSpec,
} from "./wasm_register.ts";

/** Kernel name of the probabilities `softmax(QKᵀ/√d + key bias)` `[N, H, T, T]`. */
export const WASM_ATTENTION_PROBS = "NovalabWasmAttentionProbs";
/** Kernel name of the context `P·V` in the merged layout `[N, T, D]`. */
export const WASM_ATTENTION_CONTEXT = "NovalabWasmAttentionContext";
/** Kernel name of the gradient with respect to the QKV projection. */
export const WASM_ATTENTION_GRAD = "NovalabWasmAttentionGrad";

interface Geometry {
  n: number;
  t: number;
  d: number;
  heads: number;
  dh: number;
}

function geometry(qkv: tf.TensorInfo, heads: number): Geometry {
  const [n, t, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3, dh = d / heads;
  if (qkv.shape.length !== 3 || !Number.isInteger(dh) || dh < 1) {
    throw new Error(
      `kernels/wasm_attention.ts: qkv has shape [${qkv.shape}]; expected [N, T, 3·D] with D ` +
        `divisible by heads (${heads})`,
    );
  }
  return { n, t, d, heads, dh };
}

/** One strided, batched GEMM over (sample, head). `a`/`b`: [address, row, column, sample, head]. */
function headGemm(
  k: WasmKernels,
  g: Geometry,
  [m, nn, kk]: [number, number, number],
  a: [number, number, number, number, number],
  b: [number, number, number, number, number],
  c: [number, number, number, number],
  alpha: number,
): void {
  const columns = a[1] === 1 && a[2] !== 1;
  k.gemm({
    M: m,
    N: nn,
    K: kk,
    A: a[0],
    sam: a[1],
    sak: a[2],
    B: b[0],
    sbk: b[1],
    sbn: b[2],
    C: c[0],
    ldc: c[1],
    bias: 0,
    flags: columns ? GEMM_A_COLUMNS : 0,
    G1: g.n,
    G2: g.heads,
    sa1: a[3],
    sa2: a[4],
    sb1: b[3],
    sb2: b[4],
    sc1: c[2],
    sc2: c[3],
    scratch: k.scratch(gemmScratchFloats(nn)),
    alpha,
  });
}

const probsKernel: WasmKernelSpec = {
  name: WASM_ATTENTION_PROBS,
  run({ qkv, keyBias }, attrs, k) {
    requireFloat32(qkv!, "qkv");
    const g = geometry(qkv!, Number(attrs.heads));
    const { n, t, d, heads, dh } = g, l = 3 * d;
    if (keyBias) {
      requireFloat32(keyBias, "keyBias");
      if (keyBias.shape.join() !== `${n},${t}`) {
        throw new Error(
          `kernels/wasm_attention.ts: keyBias has shape [${keyBias.shape}]; expected [${n}, ${t}]`,
        );
      }
    }
    const out = k.backend.makeOutput([n, heads, t, t], "float32");
    const q = k.address(qkv!), x = k.address(out);
    headGemm(
      k,
      g,
      [t, t, dh],
      [q, l, 1, t * l, dh],
      [q + 4 * d, 1, l, t * l, dh],
      [x, t, heads * t * t, t * t],
      1 / Math.sqrt(dh),
    );
    const bias = keyBias ? k.address(keyBias) : 0;
    softmaxRowsInPlace(k, { x, bias, rows: n * heads * t, t, group: heads * t });
    return out;
  },
};

const contextKernel: WasmKernelSpec = {
  name: WASM_ATTENTION_CONTEXT,
  run({ probs, qkv }, attrs, k) {
    const g = geometry(qkv!, Number(attrs.heads));
    const { n, t, d, heads, dh } = g, l = 3 * d;
    const out = k.backend.makeOutput([n, t, d], "float32");
    headGemm(
      k,
      g,
      [t, dh, t],
      [k.address(probs!), t, 1, heads * t * t, t * t],
      [k.address(qkv!) + 8 * d, l, 1, t * l, dh],
      [k.address(out), d, t * d, dh],
      1,
    );
    return out;
  },
};

const gradKernel: WasmKernelSpec = {
  name: WASM_ATTENTION_GRAD,
  run({ qkv, probs, dy }, attrs, k) {
    const g = geometry(qkv!, Number(attrs.heads));
    const { n, t, d, heads, dh } = g, l = 3 * d, tt = t * t, ht = heads * tt;
    const out = k.backend.makeOutput(qkv!.shape, "float32");
    const dpAt = k.malloc(n * ht * 4);
    try {
      const q = k.address(qkv!), p = k.address(probs!), o = k.address(dy!), dq = k.address(out);
      const scale = 1 / Math.sqrt(dh);
      // dP = dO·Vᵀ and dV = Pᵀ·dO.
      headGemm(k, g, [t, t, dh], [o, d, 1, t * d, dh], [q + 8 * d, 1, l, t * l, dh], [
        dpAt,
        t,
        ht,
        tt,
      ], 1);
      headGemm(k, g, [t, dh, t], [p, 1, t, ht, tt], [o, d, 1, t * d, dh], [
        dq + 8 * d,
        l,
        t * l,
        dh,
      ], 1);
      // dS = P ⊙ (dP − Σ_j dP⊙P / Σ_j P), in place of dP (`softmax_grad`, wasm_rows.ts).
      softmaxGradRows(k, p, dpAt, n * heads * t, t);
      // dQ = dS·K/√d and dK = dSᵀ·Q/√d.
      headGemm(k, g, [t, dh, t], [dpAt, t, 1, ht, tt], [q + 4 * d, l, 1, t * l, dh], [
        dq,
        l,
        t * l,
        dh,
      ], scale);
      headGemm(k, g, [t, dh, t], [dpAt, 1, t, ht, tt], [q, l, 1, t * l, dh], [
        dq + 4 * d,
        l,
        t * l,
        dh,
      ], scale);
    } finally {
      k.free(dpAt);
    }
    return out;
  },
};

/** Rows of softmax gradient below which they run on one thread. */
const MIN_SPLIT_FLOATS = 1 << 15;

/** `softmax_grad` over `rows` rows of `t`, cut into row ranges over the helper threads. */
function softmaxGradRows(k: WasmKernels, p: number, dp: number, rows: number, t: number): void {
  if (!k.threads || rows * t < MIN_SPLIT_FLOATS) return k.fns.softmax_grad!(p, dp, rows, t);
  k.threads.parallel(
    "softmax_grad",
    (threads) =>
      cutRanges(rows, threads, 1).map(([start, count]) => [
        p + 4 * start * t,
        dp + 4 * start * t,
        count,
        t,
      ]),
  );
}

const byHeads = new Map<number, KeyBiasedAttention>();

/**
 * The kernels as an op differentiable in `qkv` (`kernels/attention_grad.ts`);
 * a key bias is added to the scores before the softmax.
 */
function differentiable(heads: number): KeyBiasedAttention {
  let f = byHeads.get(heads);
  if (f) return f;
  f = constantKeyBiasAttention(
    (qkv, keyBias) => {
      const inputs: Record<string, Tensor> = keyBias ? { qkv, keyBias } : { qkv };
      const probs = runWasmKernel(WASM_ATTENTION_PROBS, inputs, { heads }) as Tensor;
      const value = runWasmKernel(WASM_ATTENTION_CONTEXT, { probs, qkv }, { heads }) as Tensor;
      return { value, keep: [qkv, probs] };
    },
    (dy, [qkv, probs]) =>
      runWasmKernel(WASM_ATTENTION_GRAD, { qkv: qkv!, probs: probs!, dy }, { heads }) as Tensor,
  );
  byHeads.set(heads, f);
  return f;
}

/**
 * Self-attention of the fused projection `qkv` `[N, T, 3D]` with `heads`
 * heads and an optional additive per-key bias `keyBias` `[N, T]` (key
 * padding), returning the merged context `[N, T, D]` (before the output
 * projection); differentiable in `qkv`. For the wasm backend (callers check
 * `wasmKernelsActive()`, `kernels/wasm_runtime.ts`).
 */
export function wasmAttention(qkv: Tensor, heads: number, keyBias?: Tensor): Tensor {
  registerWasmKernels([probsKernel, contextKernel, gradKernel]);
  geometry(qkv, heads);
  return differentiable(heads)(qkv, keyBias);
}
