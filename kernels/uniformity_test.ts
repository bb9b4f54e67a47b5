/**
 * Feature separation's fused uniformity (`kernels/uniformity.ts`, used by
 * `losses/feature_separation.ts` on WebGPU) against the op composition on the
 * CPU: the loss and the features' gradient for batches of 2 to 300 (more rows
 * than a workgroup has threads), temperatures, and features with duplicated
 * rows (zero distances, where the clamp's gradient is 0); and the dispatch
 * count. Runs on the fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { uniformityLoss } from "../losses/feature_separation.ts";
import { l2NormalizeComposite } from "./l2_normalize.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/uniformity_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const CASES = [
  { batch: 2, dim: 3, t: 2, duplicate: false },
  { batch: 9, dim: 16, t: 2, duplicate: true },
  { batch: 37, dim: 8, t: 0.5, duplicate: false },
  { batch: 300, dim: 16, t: 3, duplicate: false },
];

async function lossAndGrad(c: (typeof CASES)[number], seed: number): Promise<number[][]> {
  let x = l2NormalizeComposite(tf.tensor2d(values(c.batch * c.dim, seed), [c.batch, c.dim]));
  if (c.duplicate) {
    x = tf.concat([x.slice([0, 0], [c.batch - 2, c.dim]), x.slice([0, 0], [2, c.dim])]);
  }
  const f = (v: tf.Tensor) => uniformityLoss(v as tf.Tensor2D, { t: c.t });
  const loss = f(x);
  const [dx] = tf.grads(f)([x]);
  const out = await Promise.all([loss, dx!].map(async (v) => Array.from(await v.data())));
  tf.dispose([x, loss, dx!]);
  return out;
}

Deno.test({
  name: "kernels/uniformity: loss and gradient match the composition (duplicates, B up to 300)",
  ...opts,
  async fn() {
    await tf.setBackend("cpu");
    const expected = await Promise.all(CASES.map((c, i) => lossAndGrad(c, 3 * i + 2)));
    await useNovalabWebGpu();
    const actual = await Promise.all(CASES.map((c, i) => lossAndGrad(c, 3 * i + 2)));
    CASES.forEach((c, i) => {
      assertClose(actual[i]![0]!, expected[i]![0]!, `${JSON.stringify(c)}: loss`);
      assertClose(actual[i]![1]!, expected[i]![1]!, `${JSON.stringify(c)}: dx`, {
        atol: 2e-5,
        rtol: 2e-4,
      });
    });
  },
});

Deno.test({
  name: "kernels/uniformity: two dispatches forward and one backward besides the Gram matmuls",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const x = tf.variable(l2NormalizeComposite(tf.tensor2d(values(12 * 5, 7), [12, 5])));
    await x.data();
    const before = tf.memory().numTensors;
    counter.reset();
    const { value, grads } = tf.variableGrads(() => uniformityLoss(x as tf.Tensor2D), [x]);
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
    const { byProgram } = counter.read();
    const mine = Object.entries(byProgram).filter(([k]) => k.startsWith("NovalabUniformity"));
    assert.deepEqual(Object.fromEntries(mine), {
      NovalabUniformityRowsProgram: 1,
      NovalabUniformityFinishProgram: 1,
      NovalabUniformityGradProgram: 1,
    });
    assert.equal(tf.memory().numTensors, before);
    x.dispose();
  },
});
