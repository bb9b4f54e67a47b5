/**
 * Tensor helpers that work around backend bugs, so that every backend gives
 * the same numbers, and around tfjs ops whose gradients scale badly.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "./tensor.ts";
import { wasmKernelsActive } from "../kernels/wasm_runtime.ts";
import { wasmRepeat } from "../kernels/wasm_repeat.ts";

/**
 * Most inputs `tf.addN` is given at once. tfjs-backend-webgpu 4.22 binds every
 * input as a storage buffer and silently ignores inputs beyond the adapter's
 * binding limit (on Mesa llvmpipe, `addN` of 20 scalars 1…20 returns 28 = 1+…+7).
 */
export const ADD_N_CHUNK = 6;

/** Element-wise sum of same-shaped tensors, correct on every backend (chunks `tf.addN`). */
export function addAll(tensors: Tensor[]): Tensor {
  if (tensors.length === 0) throw new Error("addAll: needs at least one tensor");
  let level = tensors;
  while (level.length > 1) {
    const next: Tensor[] = [];
    for (let i = 0; i < level.length; i += ADD_N_CHUNK) {
      const chunk = level.slice(i, i + ADD_N_CHUNK);
      next.push(chunk.length === 1 ? chunk[0]! : tf.addN(chunk));
    }
    level = next;
  }
  return level[0]!;
}

/**
 * The copies themselves: tfjs's `Tile` on WebGPU (one dispatch); on WASM a
 * block copy per copy (`kernels/wasm_repeat.ts`: tfjs-wasm's `Tile` indexes
 * element by element, 25–50× slower); elsewhere a concatenation.
 */
function repeatValue(v: Tensor, times: number): Tensor {
  if (tf.getBackend() === "webgpu") {
    return tf.tile(tf.expandDims(v, 0), [times, ...v.shape.map(() => 1)]) as Tensor;
  }
  if (wasmKernelsActive() && v.dtype === "float32") return wasmRepeat(v, times);
  return tf.tidy(() => tf.concat(Array(times).fill(tf.expandDims(v, 0)), 0)) as Tensor;
}

/**
 * `times` copies of `x` stacked along a new leading axis, `[times, ...x.shape]`
 * (a CLS token per image, text features per image crop), with the gradient
 * `Σ` over that axis in one reduction. `tf.tile` gives the same values, but
 * tfjs's Tile gradient is a slice and an add per copy: 2·64 dispatches for a
 * batch-64 CLS token, 512 at batch 256.
 */
export function repeatLeading(x: Tensor, times: number): Tensor {
  if (!Number.isInteger(times) || times < 1) {
    throw new Error(`repeatLeading: times must be a positive integer, got ${times}`);
  }
  const repeat = tf.customGrad((...args: unknown[]) => {
    const v = args[0] as Tensor;
    const value = repeatValue(v, times);
    return { value, gradFunc: (dy: Tensor) => tf.sum(dy, 0) };
  }) as unknown as (v: Tensor) => Tensor;
  return repeat(x);
}
