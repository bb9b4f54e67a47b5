/**
 * Tensor helpers that work around backend bugs, so that every backend gives
 * the same numbers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "./tensor.ts";

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
