/**
 * LayerNorm over the last axis, `y = (x − μ)·(σ² + ε)^-½·γ + β`.
 *
 * On the webgpu backend with novalab's kernels installed it runs the fused
 * kernels (`kernels/layernorm_forward.ts`, `kernels/layernorm_backward.ts`):
 * one dispatch forward, five backward (statistics, dx, chunked column sums,
 * dγ, dβ) under a `tf.customGrad`. Everywhere else (WASM, CPU, stock WebGPU)
 * it is the op composition novalab has always used, so values there are
 * unchanged bit for bit.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import { novalabKernelsInstalled } from "./install.ts";
import { LAYER_NORM } from "./layernorm_forward.ts";
import {
  LAYER_NORM_COLUMN_SUM,
  LAYER_NORM_GRAD_PARAMS_PARTIAL,
  LAYER_NORM_GRAD_X,
} from "./layernorm_backward.ts";

/** The op composition (tf.moments, then normalise, scale and shift). */
export function layerNormComposite(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  const { mean, variance } = tf.moments(x, -1, true);
  const normed = tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, eps)));
  return tf.add(tf.mul(normed, gamma), beta);
}

/** True when {@linkcode layerNorm} would run the fused WebGPU kernels now. */
export function fusedLayerNormActive(): boolean {
  return tf.getBackend() === "webgpu" && novalabKernelsInstalled();
}

function run(name: string, inputs: Record<string, Tensor>, attrs: Record<string, number> = {}) {
  return tf.engine().runKernel(name, inputs, attrs) as Tensor;
}

function fused(eps: number): (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor {
  const forward = (
    ...args: Array<Tensor | GradSaveFunc>
  ): { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] } => {
    const [x, gamma, beta, save] = args as [Tensor, Tensor, Tensor, GradSaveFunc];
    const [y, stats] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as Tensor[];
    save([x, gamma, stats!]); // copies kept for the backward pass (none when not recording)
    stats!.dispose();
    return {
      value: y!,
      gradFunc: (dy, saved) => {
        const [sx, sg, sStats] = saved as [Tensor, Tensor, Tensor];
        const dx = run(LAYER_NORM_GRAD_X, { x: sx, gamma: sg, dy, stats: sStats });
        const partial = run(LAYER_NORM_GRAD_PARAMS_PARTIAL, { x: sx, dy, stats: sStats });
        const [dGamma, dBeta] = tf.engine().runKernel(LAYER_NORM_COLUMN_SUM, {
          partial,
        }) as Tensor[];
        partial.dispose();
        return [dx, dGamma!.reshape(sg.shape), dBeta!.reshape(sg.shape)];
      },
    };
  };
  return tf.customGrad(forward) as unknown as (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor;
}

const fusedByEps = new Map<number, (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor>();

/**
 * LayerNorm of `x` `[..., D]` with scale `gamma` and shift `beta` (`[D]`) and
 * variance epsilon `eps`; differentiable in all three tensors.
 */
export function layerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  if (!fusedLayerNormActive() || x.dtype !== "float32") {
    return layerNormComposite(x, gamma, beta, eps);
  }
  let f = fusedByEps.get(eps);
  if (!f) {
    f = fused(eps);
    fusedByEps.set(eps, f);
  }
  return f(x, gamma, beta);
}
