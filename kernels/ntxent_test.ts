/**
 * ITO's fused NT-Xent (`kernels/ntxent.ts`, used by `losses/ito_fusion.ts` on
 * WebGPU) against the op composition on the CPU: the loss and the gradients of
 * both views and the logit scale for batches of 1 to 150 views' rows (a Gram
 * matrix of 300 rows: more than a workgroup's threads) and scales up to 100;
 * and the dispatch count. Runs on the fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { itoFusionLoss } from "../losses/ito_fusion.ts";
import { l2NormalizeComposite } from "./l2_normalize.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/ntxent_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const CASES = [
  { batch: 1, dim: 3, scale: 1 },
  { batch: 6, dim: 8, scale: 14.3 },
  { batch: 21, dim: 5, scale: 100 },
  { batch: 150, dim: 16, scale: 10 },
];

async function lossAndGrads(c: (typeof CASES)[number], seed: number): Promise<number[][]> {
  const view = (s: number) =>
    l2NormalizeComposite(tf.tensor2d(values(c.batch * c.dim, s), [c.batch, c.dim])) as tf.Tensor2D;
  const [a, b, scale] = [view(seed), view(seed + 1), tf.scalar(c.scale)];
  const f = (x: tf.Tensor, y: tf.Tensor, s: tf.Tensor) =>
    itoFusionLoss(x as tf.Tensor2D, y as tf.Tensor2D, { scale: s as tf.Scalar });
  const loss = f(a, b, scale);
  const grads = tf.grads((x, y, s) => f(x!, y!, s!))([a, b, scale]);
  const out = await Promise.all([loss, ...grads].map(async (x) => Array.from(await x.data())));
  tf.dispose([a, b, scale, loss, ...grads]);
  return out;
}

Deno.test({
  name: "kernels/ntxent: loss and gradients (both views, scale) match the composition",
  ...opts,
  async fn() {
    await tf.setBackend("cpu");
    const expected = await Promise.all(CASES.map((c, i) => lossAndGrads(c, 2 * i + 5)));
    await useNovalabWebGpu();
    const actual = await Promise.all(CASES.map((c, i) => lossAndGrads(c, 2 * i + 5)));
    CASES.forEach((c, i) =>
      ["loss", "dview1", "dview2", "dscale"].forEach((name, k) =>
        assertClose(actual[i]![k]!, expected[i]![k]!, `${JSON.stringify(c)}: ${name}`, {
          atol: 2e-5,
          rtol: 2e-4,
        })
      )
    );
  },
});

Deno.test({
  name: "kernels/ntxent: two dispatches forward and two backward besides the Gram matmuls",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const a = tf.variable(l2NormalizeComposite(tf.tensor2d(values(20, 1), [5, 4])));
    const b = tf.variable(l2NormalizeComposite(tf.tensor2d(values(20, 2), [5, 4])));
    const scale = tf.variable(tf.scalar(3));
    await Promise.all([a.data(), b.data(), scale.data()]);
    const before = tf.memory().numTensors;
    counter.reset();
    const { value, grads } = tf.variableGrads(
      () => itoFusionLoss(a as tf.Tensor2D, b as tf.Tensor2D, { scale: scale as tf.Scalar }),
      [a, b, scale],
    );
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
    const { byProgram } = counter.read();
    const mine = Object.entries(byProgram).filter(([k]) => /NtXent|InfoNceGradFinish/.test(k));
    assert.deepEqual(Object.fromEntries(mine), {
      NovalabNtXentLseProgram: 1,
      NovalabNtXentFinishProgram: 1,
      NovalabNtXentGradProgram: 1,
      NovalabInfoNceGradFinishProgram: 1,
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([a, b, scale]);
  },
});
