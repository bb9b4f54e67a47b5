/**
 * Multi-head self-attention `softmax(QKᵀ/√d)V` of a fused QKV projection
 * `[N, T, 3D]`, returning the merged context `[N, T, D]` (before the output
 * projection), on the fastest path the active backend has:
 *
 * - webgpu with novalab's kernels: the fused FlashAttention-style kernels of
 *   `kernels/attention_programs.ts` — one dispatch forward, three backward
 *   (statistics, dQ, dK/dV into the one QKV gradient), no `[N, H, T, T]`
 *   tensor, no head split/transposes — for head widths that are multiples of
 *   4 up to {@link ATTENTION_MAX_HEAD_WIDTH};
 * - wasm with novalab's WASM kernels: `kernels/wasm_attention.ts`;
 * - otherwise the op composition {@linkcode selfAttentionComposite}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import { matmul } from "../models/matmul.ts";
import { novalabKernelsActive } from "./install.ts";
import { wasmKernelsActive } from "./wasm_runtime.ts";
import { wasmAttention } from "./wasm_attention.ts";
import { ATTENTION_MAX_HEAD_WIDTH } from "./attention_programs.ts";
import {
  ATTENTION_FORWARD,
  ATTENTION_GRAD_KEY_VALUE,
  ATTENTION_GRAD_QUERY,
  ATTENTION_STATS,
  geometryOf,
} from "./attention_kernels.ts";

export { ATTENTION_MAX_HEAD_WIDTH } from "./attention_programs.ts";

/**
 * The split/transpose/matmul/softmax composition (every backend), with an
 * optional additive per-key bias `keyBias` `[N, T]` (e.g. a key-padding mask).
 */
export function selfAttentionComposite(qkv: Tensor, heads: number, keyBias?: Tensor): Tensor {
  const [n, t, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3, dh = d / heads;
  const toHeads = (m: Tensor): Tensor =>
    m.reshape([n, t, heads, dh]).transpose([0, 2, 1, 3]).reshape([n * heads, t, dh]);
  // Split before transposing: 4-D transposes are fast, 5-D ones are not (WASM).
  const [q, k, v] = tf.split(qkv, 3, -1).map(toHeads);
  let scores = tf.mul(matmul(q!, k!, { transposeB: true }), 1 / Math.sqrt(dh));
  if (keyBias) {
    scores = tf.add(scores.reshape([n, heads, t, t]), keyBias.reshape([n, 1, 1, t]))
      .reshape([n * heads, t, t]);
  }
  const context = matmul(tf.softmax(scores), v!); // [N·H, T, dh]
  return context.reshape([n, heads, t, dh]).transpose([0, 2, 1, 3]).reshape([n, t, d]);
}

/** True when {@linkcode selfAttention} would run the fused WebGPU kernels for head width `dh`. */
export function fusedWebGpuAttentionActive(dh: number): boolean {
  return novalabKernelsActive() && dh % 4 === 0 && dh >= 4 && dh <= ATTENTION_MAX_HEAD_WIDTH;
}

function run(name: string, inputs: Record<string, Tensor>, heads: number): Tensor {
  return tf.engine().runKernel(name, inputs, { heads }) as Tensor;
}

type Fused = (qkv: Tensor, keyBias?: Tensor) => Tensor;
const byHeads = new Map<string, Fused>();

/**
 * The fused kernels under a `tf.customGrad`, differentiable in `qkv`. A key
 * bias is taken as a constant mask: its gradient is zero (learned biases go
 * through the composition).
 */
function fused(heads: number, withBias: boolean): Fused {
  const key = `${heads}/${withBias}`;
  let f = byHeads.get(key);
  if (f) return f;
  f = tf.customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const qkv = args[0] as Tensor;
    const keyBias = withBias ? args[1] as Tensor : undefined;
    const save = args.at(-1) as GradSaveFunc;
    const bias: Record<string, Tensor> = keyBias ? { keyBias } : {};
    const value = run(ATTENTION_FORWARD, { qkv, ...bias }, heads);
    save(keyBias ? [qkv, value, keyBias] : [qkv, value]);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sq, so, sb] = saved as [Tensor, Tensor, Tensor?];
        const b: Record<string, Tensor> = sb ? { keyBias: sb } : {};
        const stats = run(ATTENTION_STATS, { qkv: sq, o: so, dy, ...b }, heads);
        const dq = run(ATTENTION_GRAD_QUERY, { qkv: sq, dy, stats, ...b }, heads);
        const grad = run(ATTENTION_GRAD_KEY_VALUE, { qkv: sq, dy, stats, dq, ...b }, heads);
        tf.dispose([stats, dq]);
        return sb ? [grad, tf.zerosLike(sb)] : [grad];
      },
    };
  }) as unknown as Fused;
  byHeads.set(key, f);
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
    return keyBias ? fused(heads, true)(qkv, keyBias) : fused(heads, false)(qkv);
  }
  if (wasmKernelsActive() && (!keyBias || keyBias.dtype === "float32")) {
    return wasmAttention(qkv, heads, keyBias);
  }
  return selfAttentionComposite(qkv, heads, keyBias);
}
