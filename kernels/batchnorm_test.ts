/**
 * The fused WebGPU batch norm + activation (forward and backward kernels)
 * against the op composition on tfjs's CPU backend, for every fusable
 * activation, at odd widths, partial column groups and more rows than lanes;
 * and `models/batchnorm.ts` picking it in training (statistics included).
 * Runs on any adapter, including Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { batchNormActivation, fusedBatchNormActive } from "./batchnorm.ts";
import { POINTWISE_ACTIVATIONS, type PointwiseActivation } from "./activation_wgsl.ts";
import { ACTIVATIONS, ParameterStore } from "../models/layers.ts";
import { BatchNorm } from "../models/batchnorm.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/batchnorm_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const TOL = { atol: 3e-5, rtol: 2e-4 };
const EPS = 1e-5;

function tensor(shape: number[], seed: number, scale = 1, shift = 0): tf.Tensor {
  const v = values(shape.reduce((p, d) => p * d, 1), seed).map((x) => x * scale + shift);
  return tf.tensor(v, shape);
}

/** The composition: tf.moments over the rows, normalise, scale, shift, activation. */
function composite(x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, act: PointwiseActivation) {
  const flat = x.reshape([-1, x.shape.at(-1)!]);
  const { mean, variance } = tf.moments(flat, 0);
  const normed = tf.mul(tf.sub(flat, mean), tf.rsqrt(tf.add(variance, EPS)));
  const y = ACTIVATIONS[act]!(tf.add(tf.mul(normed, g), b)).reshape(x.shape);
  return { y, mean, variance };
}

type Norm = (x: tf.Tensor, g: tf.Tensor, b: tf.Tensor, act: PointwiseActivation) => {
  y: tf.Tensor;
  mean: tf.Tensor;
  variance: tf.Tensor;
};

const fused: Norm = (x, g, b, act) => batchNormActivation(x, g, b, EPS, act);

/** y, μ, σ² and the gradients of Σ y·w with respect to x, γ and β. */
function forwardAndGrads(shape: number[], act: PointwiseActivation, norm: Norm) {
  return () => {
    const d = shape.at(-1)!;
    const x = tensor(shape, 1, 3, 0.5), gamma = tensor([d], 2, 0.5, 1), beta = tensor([d], 3);
    const w = tensor(shape, 4);
    const { y, mean, variance } = norm(x, gamma, beta, act);
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => {
      const r = norm(a, g, b, act);
      tf.dispose([r.mean, r.variance]);
      return tf.sum(tf.mul(r.y, w));
    })([x, gamma, beta]);
    return [y, mean, variance, ...grads];
  };
}

/** One row group and many, widths below, at and past one 32-column group. */
const SHAPES = [[2, 1], [3, 5], [2, 9, 33], [70, 64], [257, 3], [5, 100]];

Deno.test({
  name: "kernels/batchnorm: fused forward, statistics and gradients match the composition",
  ...opts,
  async fn() {
    for (const act of POINTWISE_ACTIVATIONS) {
      for (const shape of SHAPES) {
        const expected = await valuesOn("cpu", forwardAndGrads(shape, act, composite));
        const counter = await useNovalabWebGpu();
        const actual = await valuesOn("webgpu", forwardAndGrads(shape, act, fused));
        ["y", "mean", "variance", "dx", "dγ", "dβ"].forEach((name, i) =>
          assertClose(actual[i]!, expected[i]!, `${act} [${shape}] ${name}`, TOL)
        );
        const ran = counter.read().byProgram;
        assert.equal(ran["NovalabBatchNormProgram"], 2, "forward: one dispatch per call");
        assert.equal(ran["NovalabBatchNormBackwardProgram"], 1, "dx, dγ, dβ: one dispatch");
      }
    }
  },
});

Deno.test({
  name:
    "kernels/batchnorm: models/batchnorm trains on the fused kernel with the same running stats",
  ...opts,
  async fn() {
    const run = async (backend: "cpu" | "webgpu") => {
      const counter = backend === "webgpu" ? await useNovalabWebGpu() : undefined;
      if (!counter) await tf.setBackend("cpu");
      const bn = new BatchNorm(new ParameterStore("head", 0), "bn", { dim: 40, momentum: 0.1 });
      const x = tensor([2, 9, 40], 5, 2, 1);
      assert.equal(fusedBatchNormActive(x, "gelu"), backend === "webgpu");
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.square(bn.apply(x, true, "gelu"))) as tf.Scalar,
        [bn.weight, bn.bias],
      );
      bn.afterStep();
      if (counter) {
        const ran = counter.read().byProgram;
        assert.equal(ran["NovalabRunningStatsProgram"], 1, "both running estimates: one dispatch");
      }
      const out = await Promise.all([
        value.data(),
        ...Object.values(grads).map((g) => g.data()),
        ...bn.buffers.map((b) => b.variable.data()),
        bn.apply(x, false, "gelu").data(),
      ]);
      tf.dispose([x, value, ...Object.values(grads)]);
      bn.dispose();
      return out as Float32Array[];
    };
    const expected = await run("cpu");
    const actual = await run("webgpu");
    ["loss", "dγ", "dβ", "running mean", "running variance", "inference"].forEach((name, i) =>
      assertClose(actual[i]!, expected[i]!, name, { atol: 1e-4, rtol: 2e-4 })
    );
  },
});

Deno.test({
  name: "kernels/batchnorm: clear errors for unfusable activations and mismatched parameters",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const x = tf.zeros([4, 3]);
    assert.equal(fusedBatchNormActive(x, "swish"), false);
    assert.throws(
      () => batchNormActivation(x, tf.ones([3]), tf.zeros([3]), EPS, "swish" as "relu"),
      /activation 'swish' is not fusable; valid: identity, relu, gelu, tanh/,
    );
    assert.throws(
      () => batchNormActivation(x, tf.ones([4]), tf.zeros([3]), EPS, "relu"),
      /gamma must be float32 with 3 entries \(one per column of x\), got float32 \[4\]/,
    );
    x.dispose();
  },
});
