/**
 * The model-side WebGPU paths that novalab's kernels enable: `models/matmul.ts`
 * runs transposed-operand products directly (no transpose dispatches), and
 * `applyLinear` is one fused matmul with the bias and a ReLU in its epilogue.
 * Values and gradients against the unchanged WASM/CPU path on tfjs's CPU
 * backend; the stock-kernel WebGPU path keeps the explicit transposes. Runs on
 * any WebGPU adapter, including Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { matmul } from "../models/matmul.ts";
import { applyLinear, type Linear } from "../models/layers.ts";
import { installNovalabKernels, novalabKernelsActive, restoreStockKernels } from "./install.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/webgpu_paths_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const TOL = { atol: 1e-5, rtol: 1e-4 };

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed), shape);
}

/** `matmul` and its gradients in a and b (weighted sum, so every entry matters). */
function matmulAndGrads(a: number[], b: number[], tA: boolean, tB: boolean) {
  return () => {
    const x = tensor(a, 1), y = tensor(b, 2);
    const out = matmul(x, y, { transposeA: tA, transposeB: tB });
    const w = tensor(out.shape, 3);
    const grads = tf.grads((p: tf.Tensor, q: tf.Tensor) =>
      tf.sum(tf.mul(matmul(p, q, { transposeA: tA, transposeB: tB }), w))
    )([x, y]);
    return [out, ...grads];
  };
}

/** `[a shape, b shape, transposeA, transposeB]`: a rank-2 and a batched case. */
const MATMULS: [number[], number[], boolean, boolean][] = [
  [[5, 3], [4, 3], false, true],
  [[2, 3, 5], [2, 3, 7], true, false],
];

Deno.test({
  name: "models/matmul on novalab WebGPU: transposed products run directly, values and grads",
  ...opts,
  async fn() {
    for (const [a, b, tA, tB] of MATMULS) {
      const expected = await valuesOn("cpu", matmulAndGrads(a, b, tA, tB));
      const counter = await useNovalabWebGpu();
      assert.ok(novalabKernelsActive());
      const actual = await valuesOn("webgpu", matmulAndGrads(a, b, tA, tB));
      ["value", "da", "db"].forEach((k, i) =>
        assertClose(actual[i]!, expected[i]!, `[${a}]·[${b}] tA=${tA} tB=${tB} ${k}`, TOL)
      );
      const ran = counter.read().byProgram;
      assert.equal(ran["NovalabMatMulProgram"], 4, "value, forward again under grads, da, db");
      assert.equal((ran["TransposeProgram"] ?? 0) + (ran["TransposeSharedProgram"] ?? 0), 0);
    }
  },
});

Deno.test({
  name: "models/matmul on stock WebGPU kernels keeps the explicit transposes",
  ...opts,
  async fn() {
    const [a, b, tA, tB] = MATMULS[0]!;
    const expected = await valuesOn("cpu", matmulAndGrads(a, b, tA, tB));
    const counter = await useNovalabWebGpu();
    restoreStockKernels();
    try {
      assert.ok(!novalabKernelsActive());
      counter.reset();
      const actual = await valuesOn("webgpu", matmulAndGrads(a, b, tA, tB));
      actual.forEach((v, i) => assertClose(v, expected[i]!, `stock output ${i}`, TOL));
      const ran = counter.read().byProgram;
      assert.ok((ran["TransposeProgram"] ?? 0) + (ran["TransposeSharedProgram"] ?? 0) > 0);
    } finally {
      installNovalabKernels();
    }
  },
});

/** `applyLinear` on `[2, 3, 6]` (a 6 → 8 layer) and the gradients in x, W and b. */
function linearAndGrads(activation?: string) {
  return () => {
    const x = tensor([2, 3, 6], 4), weight = tensor([6, 8], 5), bias = tensor([8], 6);
    const w = tensor([2, 3, 8], 7);
    const f = (p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
      applyLinear({ weight: q, bias: r } as unknown as Linear, p, activation);
    const grads = tf.grads((p: tf.Tensor, q: tf.Tensor, r: tf.Tensor) =>
      tf.sum(tf.mul(f(p, q, r), w))
    )([x, weight, bias]);
    return [f(x, weight, bias), ...grads];
  };
}

Deno.test({
  name: "applyLinear on novalab WebGPU: one fused dispatch forward, values and grads match",
  ...opts,
  async fn() {
    for (const activation of [undefined, "relu", "gelu", "tanh"]) {
      const expected = await valuesOn("cpu", linearAndGrads(activation));
      const counter = await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", linearAndGrads(activation));
      ["y", "dx", "dW", "db"].forEach((k, i) =>
        assertClose(actual[i]!, expected[i]!, `activation ${activation} ${k}`, TOL)
      );
      // Forward alone: one matmul dispatch with bias (and ReLU or GELU) in its epilogue.
      counter.reset();
      const y = tf.tidy(() =>
        applyLinear(
          { weight: tensor([6, 8], 5), bias: tensor([8], 6) } as unknown as Linear,
          tensor([2, 3, 6], 4),
          activation,
        )
      );
      await y.data();
      y.dispose();
      const ran = counter.read().byProgram;
      assert.equal(ran["NovalabMatMulProgram"], 1, `${activation}: one fused matmul`);
      const others = counter.read().dispatches - 1;
      if (activation === "tanh") assert.ok(others > 0, "tanh is not fusable: it follows as ops");
      else assert.equal(others, 0, `${activation}: no separate bias add or activation`);
    }
  },
});

Deno.test("applyLinear: an unknown activation is an error naming the valid ones", async () => {
  await tf.setBackend("cpu");
  const layer = { weight: tf.ones([2, 2]), bias: tf.zeros([2]) } as unknown as Linear;
  assert.throws(
    () => applyLinear(layer, tf.ones([1, 2]), "swish"),
    /activation 'swish' is unknown; valid: gelu, quick_gelu, gelu_tanh, relu, tanh, identity/,
  );
  tf.dispose([layer.weight, layer.bias!]);
});
