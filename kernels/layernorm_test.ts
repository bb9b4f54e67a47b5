/**
 * The fused WebGPU LayerNorm (forward and backward kernels) against the op
 * composition on tfjs's CPU backend, at odd and multi-chunk shapes; and the
 * composition itself wherever the fused path is off (WASM/CPU, stock kernels).
 * The WebGPU cases run on any adapter, including Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fusedLayerNormActive, layerNorm, layerNormComposite } from "./layernorm.ts";
import { installNovalabKernels, restoreStockKernels } from "./install.ts";
import {
  columnsPerThread,
  LAYER_NORM_BACKWARD_ENV,
  rowsPerGroup,
} from "./layernorm_backward_fused.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/layernorm_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** fp32, rows of ≤ 600 entries, normalised outputs O(1). */
const TOL = { atol: 2e-5, rtol: 1e-4 };
const EPS = 1e-6;

function tensor(shape: number[], seed: number, scale = 1, shift = 0): tf.Tensor {
  const v = values(shape.reduce((p, d) => p * d, 1), seed).map((x) => x * scale + shift);
  return tf.tensor(v, shape);
}

/** y and the gradients of Σ y·w with respect to x, γ and β. */
function forwardAndGrads(shape: number[], ln: typeof layerNorm) {
  return () => {
    const d = shape.at(-1)!;
    const x = tensor(shape, 1, 3, 0.5), gamma = tensor([d], 2, 0.5, 1), beta = tensor([d], 3);
    const w = tensor(shape, 4);
    const y = ln(x, gamma, beta, EPS);
    const grads = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(ln(a, g, b, EPS), w))
    )([x, gamma, beta]);
    return [y, ...grads];
  };
}

/** Odd widths, one to sixteen columns per thread, partial row groups, ~10 rows per group. */
const SHAPES = [
  [1, 1],
  [3, 5],
  [2, 17, 33],
  [4, 7, 65],
  [70, 9],
  [3, 300],
  [2, 600],
  [3, 2047],
  [20003, 3],
];

Deno.test({
  name: "kernels/layernorm: fused forward and gradients match the composition on the CPU",
  ...opts,
  async fn() {
    assert.ok(rowsPerGroup(70) < 70, "[70, 9] spans several row groups of the dγ/dβ sums");
    assert.ok(rowsPerGroup(20003) > 4 && 20003 % rowsPerGroup(20003) !== 0, "long, uneven groups");
    assert.equal(columnsPerThread(2047), 16, "[3, 2047]: sixteen columns per thread");
    for (const shape of SHAPES) {
      const expected = await valuesOn("cpu", forwardAndGrads(shape, layerNormComposite));
      const counter = await useNovalabWebGpu();
      assert.ok(fusedLayerNormActive());
      const actual = await valuesOn("webgpu", forwardAndGrads(shape, layerNorm));
      ["y", "dx", "dγ", "dβ"].forEach((name, i) =>
        assertClose(actual[i]!, expected[i]!, `[${shape}] ${name}`, TOL)
      );
      const ran = counter.read().byProgram;
      assert.equal(ran["NovalabLayerNormProgram"], 2, "forward: one fused dispatch per call");
      assert.equal(ran["NovalabLayerNormBackwardProgram"], 1, "dx and partial sums in one pass");
      assert.equal(ran["NovalabLayerNormColumnSumProgram"], 1, "dγ and dβ from one dispatch");
      assert.deepEqual(Object.keys(ran).filter((p) => p.startsWith("Novalab")).length, 3);
    }
  },
});

Deno.test({
  name: "kernels/layernorm: rows too wide for the registers, or split asked for, take four kernels",
  ...opts,
  async fn() {
    const cases: [number[], string | undefined][] = [[[2, 4100], undefined], [[70, 9], "split"]];
    for (const [shape, env] of cases) {
      const expected = await valuesOn("cpu", forwardAndGrads(shape, layerNormComposite));
      const counter = await useNovalabWebGpu();
      if (env) Deno.env.set(LAYER_NORM_BACKWARD_ENV, env);
      try {
        const actual = await valuesOn("webgpu", forwardAndGrads(shape, layerNorm));
        ["y", "dx", "dγ", "dβ"].forEach((name, i) =>
          assertClose(actual[i]!, expected[i]!, `[${shape}] ${name}`, TOL)
        );
      } finally {
        Deno.env.delete(LAYER_NORM_BACKWARD_ENV);
      }
      const ran = counter.read().byProgram;
      assert.equal(ran["NovalabLayerNormBackwardProgram"] ?? 0, 0, `[${shape}]`);
      assert.equal(ran["NovalabLayerNormGradXProgram"], 1, `[${shape}]`);
      assert.equal(ran["NovalabLayerNormGradParamsPartialProgram"], 1, `[${shape}]`);
    }
  },
});

Deno.test({
  name: "kernels/layernorm: outside a gradient the statistics are released at once",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const x = tf.ones([4, 8]), g = tf.ones([8]), b = tf.zeros([8]);
    const before = tf.memory().numTensors;
    const y = layerNorm(x, g, b, EPS);
    assert.equal(tf.memory().numTensors, before + 1, "only y is alive");
    tf.dispose([x, g, b, y]);
  },
});

Deno.test({
  name: "kernels/layernorm: stock WebGPU kernels use the composition",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    restoreStockKernels();
    try {
      assert.ok(!fusedLayerNormActive());
      counter.reset();
      const actual = await valuesOn("webgpu", forwardAndGrads([3, 5], layerNorm));
      const novalab = Object.keys(counter.read().byProgram).filter((p) => p.startsWith("Novalab"));
      assert.deepEqual(novalab, [], "no novalab program ran");
      const expected = await valuesOn("cpu", forwardAndGrads([3, 5], layerNormComposite));
      actual.forEach((a, i) => assertClose(a, expected[i]!, `stock output ${i}`, TOL));
    } finally {
      installNovalabKernels();
    }
  },
});

Deno.test("kernels/layernorm: off WebGPU it is the composition, bit for bit", async () => {
  await tf.setBackend("cpu");
  assert.ok(!fusedLayerNormActive());
  const [a, b] = await Promise.all(
    [layerNorm, layerNormComposite].map((ln) => valuesOn("cpu", forwardAndGrads([4, 7, 65], ln))),
  );
  a!.forEach((v, i) => assert.deepEqual(v, b![i]));
});
