/**
 * `tf.engine()`'s custom-gradient entry, typed: what `tf.customGrad` is built
 * on, used directly where an op must save tensors that are not its outputs
 * (a GELU's pre-activation, an MLP's hidden layer) or return several outputs
 * (a LayerNorm and its skip connection). tfjs-core 4.22 (pinned in deno.json).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import type { KernelConfig, KernelFunc } from "@tensorflow/tfjs";

/** One op with its own gradient, over named `inputs`. */
export interface CustomGradOp<T extends Tensor | Tensor[]> {
  /** Named inputs; the gradient map uses the same names. */
  inputs: Record<string, Tensor>;
  /** The outputs; `save` keeps copies for the backward pass (none when not recording). */
  forwardFunc: (backend: unknown, save: GradSaveFunc) => T;
  /** Lazy gradients per input name from the outputs' gradients (an array for several outputs). */
  backwardsFunc: (
    dy: T extends Tensor[] ? Tensor[] : Tensor,
    saved: Tensor[],
  ) => Record<string, () => Tensor>;
}

/** Runs `op` and records it on the gradient tape. */
export function runCustomGradOp<T extends Tensor | Tensor[]>(op: CustomGradOp<T>): T {
  const engine = tf.engine() as unknown as { runKernelFunc(params: CustomGradOp<T>): T };
  return engine.runKernelFunc(op);
}

/** A kernel function of any signature, registered under a kernel name. */
type AnyKernelFunc = (args: never) => unknown;

/**
 * WebGPU kernel configs of `kernels` (kernel name → function), e.g. a fused
 * op's forward and gradient passes.
 */
export function webgpuKernelConfigs(kernels: Record<string, AnyKernelFunc>): KernelConfig[] {
  return Object.entries(kernels).map(([kernelName, f]) => ({
    kernelName,
    backendName: "webgpu",
    kernelFunc: f as unknown as KernelFunc,
  }));
}
