/**
 * The `tf.customGrad` wrapper shared by novalab's attention kernels (WebGPU,
 * WASM): an op differentiable in the QKV projection with an optional additive
 * per-key bias taken as a constant mask (its gradient is zero; learned biases
 * go through the op composition).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";

/** Attention of `qkv` `[N, T, 3D]` with an optional key bias `[N, T]` → `[N, T, D]`. */
export type KeyBiasedAttention = (qkv: Tensor, keyBias?: Tensor) => Tensor;

/**
 * Builds the op from `forward` (the value and the tensors its backward pass
 * needs) and `backward` (the QKV gradient from `dy` and those tensors); the
 * key bias reaches both and is kept alive for the backward pass.
 */
export function constantKeyBiasAttention(
  forward: (qkv: Tensor, keyBias: Tensor | undefined) => { value: Tensor; keep: Tensor[] },
  backward: (dy: Tensor, kept: Tensor[], keyBias: Tensor | undefined) => Tensor,
): KeyBiasedAttention {
  const make = (withBias: boolean) =>
    tf.customGrad((...args: Array<Tensor | GradSaveFunc>) => {
      const qkv = args[0] as Tensor;
      const keyBias = withBias ? args[1] as Tensor : undefined;
      const save = args.at(-1) as GradSaveFunc;
      const { value, keep } = forward(qkv, keyBias);
      save(keyBias ? [...keep, keyBias] : keep);
      return {
        value,
        gradFunc: (dy: Tensor, saved: Tensor[]) => {
          const bias = withBias ? saved.at(-1) : undefined;
          const grad = backward(dy, withBias ? saved.slice(0, -1) : saved, bias);
          return bias ? [grad, tf.zerosLike(bias)] : [grad];
        },
      };
    }) as unknown as KeyBiasedAttention;
  const plain = make(false), biased = make(true);
  return (qkv, keyBias) => keyBias ? biased(qkv, keyBias) : plain(qkv);
}
