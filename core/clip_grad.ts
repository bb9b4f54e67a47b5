/**
 * Gradient clipping by global norm, with PyTorch's
 * `torch.nn.utils.clip_grad_norm_` semantics.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { addAll } from "./ops.ts";
import { novalabKernelsActive } from "../kernels/install.ts";
import { GLOBAL_NORM } from "../kernels/grad_norm.ts";
import { wasmKernelsActive } from "../kernels/wasm_runtime.ts";
import { wasmGlobalNorm } from "../kernels/wasm_grad_norm.ts";
import type { Scalar, Tensor } from "./tensor.ts";

/** Result of {@linkcode clipByGlobalNorm}. */
export interface ClippedGrads {
  /** The scaled gradients, same keys and shapes as the input; new tensors owned by the caller. */
  grads: Map<string, Tensor>;
  /** Global L2 norm of the gradients *before* clipping; owned by the caller. */
  norm: Scalar;
}

/**
 * Global L2 norm over all gradients: `√(Σ_tensors Σ_elements g²)`.
 * An empty map gives 0. Non-finite gradients give a non-finite norm.
 *
 * @param grads Gradients by parameter name (any shapes). Not disposed.
 * @returns A float32 scalar owned by the caller.
 */
export function globalNorm(grads: Map<string, Tensor>): Scalar {
  return tf.tidy(() => {
    const sums = [...grads.values()].map((g) => tf.sum(tf.square(tf.cast(g, "float32"))));
    if (sums.length === 0) return tf.scalar(0);
    return tf.sqrt(addAll(sums)) as Scalar;
  });
}

/**
 * Scales all gradients by `min(1, maxNorm / (norm + 1e-6))` where `norm` is their
 * global L2 norm — exactly `torch.nn.utils.clip_grad_norm_(…, max_norm)` with
 * `norm_type=2` and `error_if_nonfinite=False`: gradients under the limit are
 * multiplied by 1 (unchanged), and a NaN/Inf norm propagates into the gradients
 * (the trainer's non-finite guard reports it). Runs without reading the device,
 * so it never stalls the pipeline.
 *
 * @param grads Gradients by parameter name. Not disposed: the caller disposes the
 *   inputs and the outputs.
 * @param maxNorm The largest allowed global norm (finite, `> 0`).
 * @returns The clipped gradients and the pre-clipping norm.
 */
export function clipByGlobalNorm(grads: Map<string, Tensor>, maxNorm: number): ClippedGrads {
  checkMaxNorm(maxNorm);
  const names = [...grads.keys()];
  const norm = globalNorm(grads);
  const scaled = tf.tidy(() => {
    const scale = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    return names.map((name) => tf.mul(grads.get(name)!, scale));
  });
  return { grads: new Map(names.map((name, i) => [name, scaled[i]])), norm };
}

/** Result of {@linkcode clipScale}. */
export interface ClipScale {
  /** Global L2 norm of the gradients (before clipping); owned by the caller. */
  norm: Scalar;
  /**
   * `min(1, maxNorm / (norm + 1e-6))` as a one-element tensor owned by the
   * caller, for the optimiser to multiply the gradients by
   * (`AdamW.apply(grads, lr, scale)`); `null` without `maxNorm`.
   */
  scale: Tensor | null;
}

function checkMaxNorm(maxNorm: number): void {
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) {
    throw new RangeError(
      `clipByGlobalNorm: maxNorm must be a finite number > 0, got ${maxNorm} (typical 1.0)`,
    );
  }
}

/**
 * The global norm of `grads` and, with `maxNorm`, clipping's factor — what
 * {@linkcode clipByGlobalNorm} computes, without scaling the gradients: the
 * optimiser applies the factor in its own pass. On WebGPU with novalab's
 * kernels this is a few dispatches in all (`kernels/grad_norm.ts`) instead of
 * three per parameter; on WASM one kernel call (`kernels/wasm_grad_norm.ts`). Nothing is read back. `grads` are not disposed.
 */
export function clipScale(grads: Map<string, Tensor>, maxNorm?: number): ClipScale {
  if (maxNorm !== undefined) checkMaxNorm(maxNorm);
  const list = [...grads.values()];
  const fused = novalabKernelsActive() || wasmKernelsActive();
  if (fused && list.length > 0 && list.every((g) => g.dtype === "float32")) {
    const inputs = Object.fromEntries(list.map((g, i) => [`g${i}`, g]));
    const [norm, scale] = novalabKernelsActive()
      ? tf.engine().runKernel(GLOBAL_NORM, inputs, { maxNorm: maxNorm ?? 0 }) as Tensor[]
      : wasmGlobalNorm(list, maxNorm ?? 0);
    const scalar = tf.tidy(() => norm!.reshape([])) as Scalar;
    norm!.dispose();
    if (maxNorm === undefined) {
      scale!.dispose();
      return { norm: scalar, scale: null };
    }
    return { norm: scalar, scale: scale! };
  }
  const norm = globalNorm(grads);
  if (maxNorm === undefined) return { norm, scale: null };
  return { norm, scale: tf.tidy(() => tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1)) };
}
