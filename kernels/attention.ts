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

/** The split/transpose/matmul/softmax composition (every backend). */
export function selfAttentionComposite(qkv: Tensor, heads: number): Tensor {
  const [n, t, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3, dh = d / heads;
  const toHeads = (m: Tensor): Tensor =>
    m.reshape([n, t, heads, dh]).transpose([0, 2, 1, 3]).reshape([n * heads, t, dh]);
  // Split before transposing: 4-D transposes are fast, 5-D ones are not (WASM).
  const [q, k, v] = tf.split(qkv, 3, -1).map(toHeads);
  const scores = tf.mul(matmul(q!, k!, { transposeB: true }), 1 / Math.sqrt(dh));
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

const byHeads = new Map<number, (qkv: Tensor) => Tensor>();

function fused(heads: number): (qkv: Tensor) => Tensor {
  let f = byHeads.get(heads);
  if (f) return f;
  f = tf.customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const [qkv, save] = args as [Tensor, GradSaveFunc];
    const value = run(ATTENTION_FORWARD, { qkv }, heads);
    save([qkv, value]);
    return {
      value,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sq, so] = saved as [Tensor, Tensor];
        const stats = run(ATTENTION_STATS, { qkv: sq, o: so, dy }, heads);
        const dq = run(ATTENTION_GRAD_QUERY, { qkv: sq, dy, stats }, heads);
        const grad = run(ATTENTION_GRAD_KEY_VALUE, { qkv: sq, dy, stats, dq }, heads);
        tf.dispose([stats, dq]);
        return [grad];
      },
    };
  }) as unknown as (qkv: Tensor) => Tensor;
  byHeads.set(heads, f);
  return f;
}

/**
 * Self-attention of the fused projection `qkv` `[N, T, 3D]` with `heads`
 * heads → the merged context `[N, T, D]`; differentiable in `qkv`. Picks the
 * fused WebGPU kernels, the WASM kernels or the composition (module docs).
 */
export function selfAttention(qkv: Tensor, heads: number): Tensor {
  if (qkv.dtype !== "float32") return selfAttentionComposite(qkv, heads);
  const { dh } = geometryOf(qkv, heads, "qkv");
  if (fusedWebGpuAttentionActive(dh)) return fused(heads)(qkv);
  if (wasmKernelsActive()) return wasmAttention(qkv, heads);
  return selfAttentionComposite(qkv, heads);
}
