/**
 * Gradient clipping by global norm, with PyTorch's
 * `torch.nn.utils.clip_grad_norm_` semantics.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { addAll } from "./ops.ts";
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
  if (!(Number.isFinite(maxNorm) && maxNorm > 0)) {
    throw new RangeError(
      `clipByGlobalNorm: maxNorm must be a finite number > 0, got ${maxNorm} (typical 1.0)`,
    );
  }
  const names = [...grads.keys()];
  const norm = globalNorm(grads);
  const scaled = tf.tidy(() => {
    const scale = tf.minimum(tf.div(maxNorm, tf.add(norm, 1e-6)), 1);
    return names.map((name) => tf.mul(grads.get(name)!, scale));
  });
  return { grads: new Map(names.map((name, i) => [name, scaled[i]])), norm };
}
