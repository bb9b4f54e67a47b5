/**
 * LayerNorm over the last axis, `y = (x − μ)·(σ² + ε)^-½·γ + β`.
 *
 * On the webgpu backend with novalab's kernels installed it runs the fused
 * kernels (`kernels/layernorm_forward.ts`, `kernels/layernorm_backward*.ts`):
 * one dispatch forward (y and each row's `[mean, rstd]`), two backward (dx
 * with chunked column sums, then dγ with dβ; four for rows wider than the
 * fused backward's registers) under a custom gradient. Everywhere else
 * (WASM, CPU, stock WebGPU) it is the op composition novalab has always used,
 * so values there are unchanged bit for bit.
 *
 * {@linkcode layerNormWithSkip} is the pre-LN transformer's form: it also
 * hands back x for the block's skip connection as a second output, so that x
 * has one consumer on the tape and the backward pass adds the skip gradient
 * inside the dx dispatch (instead of tfjs accumulating x's two gradients with
 * a separate add over the activations).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import { novalabKernelsInstalled } from "./install.ts";
import { LAYER_NORM } from "./layernorm_forward.ts";
import { LAYER_NORM_BACKWARD } from "./layernorm_backward.ts";
import { runCustomGradOp } from "./custom_grad.ts";

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
        return backward({ x: sx, gamma: sg, dy, stats: sStats });
      },
    };
  };
  return tf.customGrad(forward) as unknown as (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor;
}

function fusedWithSkip(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): [Tensor, Tensor] {
  const [normed, skip] = runCustomGradOp<Tensor[]>({
    inputs: { x, gamma, beta },
    forwardFunc: (_backend, save) => {
      const [y, stats] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as Tensor[];
      save([x, gamma, stats!]); // copies kept for the backward pass (none when not recording)
      return [y!, tf.clone(x)];
    },
    backwardsFunc: ([dy, dSkip], saved) => {
      const [sx, sg, sStats] = saved as [Tensor, Tensor, Tensor];
      const [dx, dGamma, dBeta] = backward({
        x: sx,
        gamma: sg,
        dy: dy!,
        stats: sStats,
        dSkip: dSkip!,
      });
      return { x: () => dx, gamma: () => dGamma, beta: () => dBeta };
    },
  });
  return [normed!, skip!];
}

/** `[dx, dγ, dβ]` (γ-shaped) from the backward kernel; `dSkip` is added to dx. */
function backward(inputs: Record<string, Tensor>): [Tensor, Tensor, Tensor] {
  const [dx, dGamma, dBeta] = tf.engine().runKernel(LAYER_NORM_BACKWARD, inputs) as Tensor[];
  const shape = inputs["gamma"]!.shape;
  return [dx!, dGamma!.reshape(shape), dBeta!.reshape(shape)];
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

/**
 * LayerNorm of `x` for a pre-LN residual branch, `x + f(LN(x))`: returns
 * `[LN(x), skip]` where `skip` is x itself, to be added to the branch's output
 * (by `kernels/linear.ts`'s residual epilogue, or any op). Values are exactly
 * {@linkcode layerNorm}'s and x's. On the fused WebGPU path `skip` is a second
 * output of the LayerNorm op, so x has a single consumer on the gradient tape
 * and dx includes the skip gradient from the same dispatch; elsewhere `skip` is
 * `x` (the same tensor).
 */
export function layerNormWithSkip(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
): [Tensor, Tensor] {
  if (!fusedLayerNormActive() || x.dtype !== "float32") {
    return [layerNormComposite(x, gamma, beta, eps), x];
  }
  return fusedWithSkip(x, gamma, beta, eps);
}
