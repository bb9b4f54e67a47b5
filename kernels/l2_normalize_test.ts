/**
 * The fused WebGPU L2 normalisation (forward and backward) against the op
 * composition on tfjs's CPU backend: odd widths, wide rows, a zero row (its
 * gradient is dy/ε, as the composition's), and one dispatch each way. Runs
 * on any adapter, including Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { l2Normalize, l2NormalizeComposite } from "./l2_normalize.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/l2_normalize_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** y and the gradient of Σ y·w, with row 0 all zeros when `zeroRow`. */
function forwardAndGrad(shape: number[], norm: typeof l2Normalize, zeroRow: boolean) {
  return () => {
    const size = shape.reduce((p, d) => p * d, 1);
    const v = values(size, 11).map((x) => 3 * x);
    if (zeroRow) v.fill(0, 0, shape.at(-1)!);
    const x = tf.tensor(v, shape), w = tf.tensor(values(size, 12), shape);
    return [norm(x), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(norm(a), w)))(x)];
  };
}

Deno.test({
  name: "kernels/l2_normalize: fused forward and gradient match the composition",
  ...opts,
  async fn() {
    for (
      const [shape, zeroRow] of [[[1, 1], false], [[3, 5], true], [[2, 7, 64], false], [
        [4, 1000],
        true,
      ], [[9, 3], false]] as const
    ) {
      const expected = await valuesOn(
        "cpu",
        forwardAndGrad([...shape], l2NormalizeComposite, zeroRow),
      );
      const counter = await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", forwardAndGrad([...shape], l2Normalize, zeroRow));
      assertClose(actual[0]!, expected[0]!, `[${shape}] y`, { atol: 1e-6, rtol: 1e-5 });
      // A zero row's gradient is dy·10¹²: compare relative only.
      assertClose(actual[1]!, expected[1]!, `[${shape}] dx`, { atol: 1e-5, rtol: 1e-4 });
      const ran = counter.read().byProgram;
      assert.equal(ran["NovalabL2NormalizeProgram"], 3, "two forward calls + one backward");
    }
  },
});
