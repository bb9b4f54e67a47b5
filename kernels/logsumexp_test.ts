/**
 * The fused WebGPU log-sum-exp over rows and columns (forward and gradient)
 * against `tf.logSumExp` on tfjs's CPU backend: odd sizes, rows wider than a
 * workgroup, large logits and masked (−10⁹) entries, one dispatch each way.
 * Runs on any adapter, including Mesa's llvmpipe fallback in CI.
 */
import assert from "node:assert/strict";
import { logSumExp } from "./logsumexp.ts";
import { lseAndGrad, lseReference } from "./testing_cases.ts";
import { assertClose, useNovalabWebGpu, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/logsumexp_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const reference = lseReference;

Deno.test({
  name: "kernels/logsumexp: fused rows and columns match tf.logSumExp, value and gradient",
  ...opts,
  async fn() {
    const shapes: [number, number][] = [[1, 1], [3, 5], [33, 7], [128, 128], [5, 3000]];
    for (const shape of shapes) {
      for (const axis of [0, 1] as const) {
        const expected = await valuesOn("cpu", lseAndGrad(shape, axis, reference));
        const counter = await useNovalabWebGpu();
        const actual = await valuesOn("webgpu", lseAndGrad(shape, axis, logSumExp));
        const what = `[${shape}] axis ${axis}`;
        assertClose(actual[0]!, expected[0]!, `${what} lse`, { atol: 1e-5, rtol: 1e-6 });
        assertClose(actual[1]!, expected[1]!, `${what} dx`, { atol: 1e-6, rtol: 1e-4 });
        const ran = counter.read().byProgram;
        assert.equal(ran["NovalabLogSumExpProgram"], 2, "one forward dispatch per call");
        assert.equal(ran["NovalabLogSumExpGradProgram"], 1, "one backward dispatch");
      }
    }
  },
});
