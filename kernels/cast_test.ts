/**
 * Float tensors cast from integers reach novalab's kernels as real float32
 * data: a one-hot code (values still on the CPU) and an arg-max (on the GPU)
 * through the matmul, the fused linear layer and the fused norms give the
 * values tfjs's CPU backend gives. Before `kernels/cast.ts` those kernels read
 * the shared int32 buffer, failed to compile and left their outputs untouched.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { applyLinear, createLinear, ParameterStore } from "../models/layers.ts";
import { layerNorm } from "./layernorm.ts";
import { batchNormActivation } from "./batchnorm.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/cast_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** Every kernel family on the cast tensor `x()` `[rows, 8]`. */
function kernelsOn(x: () => tf.Tensor) {
  return () => {
    const input = x();
    const w = tf.tensor2d(values(8 * 6, 3), [8, 6]);
    const linear = createLinear(new ParameterStore("t", 1), "l", {
      inDim: 8,
      outDim: 6,
      bias: true,
      std: 0.3,
    });
    const g = tf.ones([8]), b = tf.tensor1d(values(8, 4));
    const out = [
      tf.matMul(input, w),
      applyLinear(linear, input, "gelu"),
      layerNorm(tf.add(input, tf.tensor1d(values(8, 5))), g, b, 1e-5),
      tf.getBackend() === "webgpu"
        ? batchNormActivation(input, g, b, 1e-5, "identity").y
        : batchNormComposite(input, b),
    ];
    linear.weight.dispose();
    linear.bias?.dispose();
    return out;
  };
}

/** Batch norm (γ = 1) by tf.moments, as `models/batchnorm.ts` composes it. */
function batchNormComposite(x: tf.Tensor, beta: tf.Tensor): tf.Tensor {
  const { mean, variance } = tf.moments(x, 0);
  return tf.add(tf.mul(tf.sub(x, mean), tf.rsqrt(tf.add(variance, 1e-5))), beta);
}

const oneHot = () => tf.oneHot([1, 2, 3, 7, 0], 8).toFloat();
const argMax = () => tf.oneHot(tf.argMax(tf.tensor2d(values(5 * 8, 9), [5, 8]), 1), 8).toFloat();

Deno.test({
  name: "kernels/cast: int-derived float tensors are real float32 data for novalab's kernels",
  ...opts,
  async fn() {
    for (const [name, make] of [["one-hot", oneHot], ["arg-max", argMax]] as const) {
      const expected = await valuesOn("cpu", kernelsOn(make));
      const counter = await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", kernelsOn(make));
      ["matmul", "gelu linear", "layernorm", "batchnorm"].forEach((what, i) =>
        assertClose(actual[i]!, expected[i]!, `${name}: ${what}`, { atol: 1e-5, rtol: 1e-4 })
      );
      if (name === "arg-max") {
        assert.ok(counter.read().byProgram["NovalabToFloatProgram"]! >= 1, "converted on the GPU");
      }
    }
  },
});
