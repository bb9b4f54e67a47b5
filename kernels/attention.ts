/**
 * Multi-head self-attention `softmax(QKᵀ/√d)V` of a fused QKV projection
 * `[N, T, 3D]`, returning the merged context `[N, T, D]` (before the output
 * projection), on the fastest path the active backend has:
 *
 * - webgpu with novalab's kernels: the fused FlashAttention-style kernels of
 *   `kernels/attention_programs.ts` — one dispatch forward (which also keeps
 *   each query's log-sum-exp), two backward (dQ with each query's `dO·O`,
 *   then dK/dV into the one QKV gradient), no `[N, H, T, T]`
 *   tensor, no head split/transposes — for head widths that are multiples of
 *   4 up to {@link ATTENTION_MAX_HEAD_WIDTH};
 * - wasm with novalab's WASM kernels: `kernels/wasm_attention.ts`;
 * - otherwise the op composition {@linkcode selfAttentionComposite}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "../core/tensor.ts";
import { constantKeyBiasAttention, type KeyBiasedAttention } from "./attention_grad.ts";
import { matmul } from "../models/matmul.ts";
import { novalabKernelsActive } from "./install.ts";
import { wasmKernelsActive } from "./wasm_runtime.ts";
import { wasmAttention } from "./wasm_attention.ts";
import { ATTENTION_MAX_HEAD_WIDTH } from "./attention_programs.ts";
import {
  ATTENTION_FORWARD,
  ATTENTION_GRAD_KEY_VALUE,
  ATTENTION_GRAD_QUERY,
  geometryOf,
} from "./attention_kernels.ts";

export { ATTENTION_MAX_HEAD_WIDTH } from "./attention_programs.ts";

/**
 * The split/transpose/matmul/softmax composition (every backend), with an
 * optional additive per-key bias `keyBias` `[N, T]` (e.g. a key-padding mask)
 * and an optional general additive `bias` broadcastable to `[N, H, T, T]`
 * (e.g. causal order).
 */
export function selfAttentionComposite(
  qkv: Tensor,
  heads: number,
  keyBias?: Tensor,
  bias?: Tensor,
): Tensor {
  const [n, t, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3, dh = d / heads;
  const toHeads = (m: Tensor): Tensor =>
    m.reshape([n, t, heads, dh]).transpose([0, 2, 1, 3]).reshape([n * heads, t, dh]);
  // Split before transposing: 4-D transposes are fast, 5-D ones are not (WASM).
  const [q, k, v] = tf.split(qkv, 3, -1).map(toHeads);
  let scores = tf.mul(matmul(q!, k!, { transposeB: true }), 1 / Math.sqrt(dh));
  if (keyBias || bias) {
    let full = scores.reshape([n, heads, t, t]);
    if (keyBias) full = tf.add(full, keyBias.reshape([n, 1, 1, t]));
    if (bias) full = tf.add(full, bias);
    scores = full.reshape([n * heads, t, t]);
  }
  const context = matmul(tf.softmax(scores), v!); // [N·H, T, dh]
  return context.reshape([n, heads, t, dh]).transpose([0, 2, 1, 3]).reshape([n, t, d]);
}

/** True when {@linkcode selfAttention} would run the fused WebGPU kernels for head width `dh`. */
export function fusedWebGpuAttentionActive(dh: number): boolean {
  return novalabKernelsActive() && dh % 4 === 0 && dh >= 4 && dh <= ATTENTION_MAX_HEAD_WIDTH;
}

/** Runs an attention kernel; its outputs as a list (one or two tensors). */
function run(name: string, inputs: Record<string, Tensor>, heads: number): Tensor[] {
  const out = tf.engine().runKernel(name, inputs, { heads }) as Tensor | Tensor[];
  return Array.isArray(out) ? out : [out];
}

const byHeads = new Map<number, KeyBiasedAttention>();

/** The fused WebGPU kernels as an op differentiable in `qkv` (`kernels/attention_grad.ts`). */
function fused(heads: number): KeyBiasedAttention {
  let f = byHeads.get(heads);
  if (f) return f;
  const withBias = (keyBias: Tensor | undefined): Record<string, Tensor> =>
    keyBias ? { keyBias } : {};
  f = constantKeyBiasAttention(
    (qkv, keyBias) => {
      const [value, lse] = run(ATTENTION_FORWARD, { qkv, ...withBias(keyBias) }, heads);
      return { value: value!, keep: [qkv, value!, lse!] };
    },
    (dy, [qkv, o, lse], keyBias) => {
      const b = withBias(keyBias);
      const [dq, stats] = run(
        ATTENTION_GRAD_QUERY,
        { qkv: qkv!, dy, logSumExp: lse!, o: o!, ...b },
        heads,
      );
      const [grad] = run(
        ATTENTION_GRAD_KEY_VALUE,
        { qkv: qkv!, dy, stats: stats!, dq: dq!, ...b },
        heads,
      );
      tf.dispose([stats!, dq!]);
      return grad!;
    },
  );
  byHeads.set(heads, f);
  return f;
}

/**
 * Self-attention of the fused projection `qkv` `[N, T, 3D]` with `heads`
 * heads and an optional additive per-key bias `keyBias` `[N, T]` (a
 * key-padding mask: 0 for real keys, a large negative logit for padding) →
 * the merged context `[N, T, D]`; differentiable in `qkv`. Picks the fused
 * WebGPU kernels, the WASM kernels or the composition (module docs).
 */
export function selfAttention(qkv: Tensor, heads: number, keyBias?: Tensor): Tensor {
  if (qkv.dtype !== "float32") return selfAttentionComposite(qkv, heads, keyBias);
  const { n, t, dh } = geometryOf(qkv, heads, "qkv");
  if (keyBias && (keyBias.shape.length !== 2 || keyBias.shape[0] !== n || keyBias.shape[1] !== t)) {
    throw new Error(
      `kernels/attention.ts: keyBias has shape [${keyBias.shape}]; expected [N, T] = [${n}, ${t}]`,
    );
  }
  if (fusedWebGpuAttentionActive(dh) && (!keyBias || keyBias.dtype === "float32")) {
    return fused(heads)(qkv, keyBias);
  }
  if (wasmKernelsActive() && (!keyBias || keyBias.dtype === "float32")) {
    return wasmAttention(qkv, heads, keyBias);
  }
  return selfAttentionComposite(qkv, heads, keyBias);
}
