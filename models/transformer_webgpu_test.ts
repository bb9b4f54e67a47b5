/**
 * `applyBlock` on novalab's WebGPU kernels against tfjs's CPU backend: with a
 * key-padding bias only it runs the fused attention (the ITO fusion
 * transformer's and the text transformer's padding), with a causal bias the
 * composition; values and the gradients of the input and every parameter
 * agree. Runs on any WebGPU adapter, including Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { applyBlock, causalBias, createBlock, keyPaddingBias } from "./transformer.ts";
import { ParameterStore } from "./layers.ts";
import {
  assertClose,
  useNovalabWebGpu,
  values,
  valuesOn,
  webgpuSkipReason,
} from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`models/transformer_webgpu_test.ts skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const [N, T, D, HEADS] = [3, 11, 16, 2];

/** Output, then gradients of Σ output·w in x and every block parameter. */
function blockAndGrads(causal: boolean) {
  return () => {
    const store = new ParameterStore("fusion", 7);
    const block = createBlock(store, { index: 0, dim: D, mlpRatio: 2 });
    const x = tf.tensor(values(N * T * D, 1), [N, T, D]);
    const w = tf.tensor(values(N * T * D, 2), [N, T, D]);
    const mask = tf.tensor(
      Array.from({ length: N * T }, (_, i) => (i % T < T - 3 * (Math.floor(i / T) + 1) ? 1 : 0)),
      [N, T],
    );
    const options = {
      heads: HEADS,
      keyBias: keyPaddingBias(mask),
      ...(causal && { bias: causalBias(T) }),
    };
    const variables = store.parameters.map((p) => p.variable);
    const f = (input: tf.Tensor) =>
      tf.sum(tf.mul(applyBlock(block, input, options), w)) as tf.Scalar;
    const y = applyBlock(block, x, options);
    const dx = tf.grad(f)(x);
    const { grads } = tf.variableGrads(() => f(x), variables);
    const out = [y, dx, ...variables.map((v) => grads[v.name]!)];
    variables.forEach((v) => v.dispose());
    return out;
  };
}

for (const causal of [false, true]) {
  Deno.test({
    name: `models/transformer applyBlock on novalab WebGPU, key padding${
      causal ? " + causal" : ""
    }: values and gradients match the CPU`,
    ...opts,
    async fn() {
      const expected = await valuesOn("cpu", blockAndGrads(causal));
      const counter = await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", blockAndGrads(causal));
      assert.equal(actual.length, expected.length);
      actual.forEach((a, i) =>
        assertClose(a, expected[i]!, `output ${i}`, { atol: 3e-5, rtol: 3e-4 })
      );
      const fused = counter.read().byProgram["NovalabAttentionForwardProgram"] ?? 0;
      assert.equal(
        fused > 0,
        !causal,
        "the fused attention runs exactly when there is no causal bias",
      );
    },
  });
}
