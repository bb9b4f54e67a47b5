/**
 * nCLIP's fused loss (`kernels/nclip.ts`, used by `losses/nclip.ts` on WebGPU)
 * against the op composition on the CPU: the loss and both logits' gradients
 * for several shapes (one row, more rows and prototypes than a workgroup has
 * threads), temperatures (sharpened targets), weights, with and without the
 * targets' stop-gradient, and collapsed logits (a batch-mean probability
 * under 10⁻³⁰); and the dispatch count. Runs on the fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { nclipLoss, type NclipOptions } from "../losses/nclip.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/nclip_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

interface Case {
  rows: number;
  cols: number;
  scale: number;
  options: NclipOptions;
}

const CASES: Case[] = [
  { rows: 1, cols: 5, scale: 1, options: {} },
  { rows: 8, cols: 32, scale: 0.5, options: { smoothnessWeight: 3 } },
  {
    rows: 13,
    cols: 300,
    scale: 0.3,
    options: { temperature: 0.2, targetTemperature: 0.05, crossWeight: 0.7, sharpnessWeight: 0.4 },
  },
  { rows: 270, cols: 17, scale: 1, options: { stopGradient: true, smoothnessWeight: 2 } },
  // Collapsed: one prototype takes every row, the others' mean probability underflows.
  { rows: 6, cols: 9, scale: 400, options: {} },
];

function logits(c: Case, seed: number): tf.Tensor2D {
  const raw = tf.tensor2d(values(c.rows * c.cols, seed), [c.rows, c.cols]);
  if (c.scale < 100) return tf.mul(raw, c.scale) as tf.Tensor2D;
  const hot = tf.oneHot(tf.fill([c.rows], 2, "int32"), c.cols).toFloat();
  return tf.add(tf.mul(raw, 0.1), tf.mul(hot, c.scale * 0.1)) as tf.Tensor2D;
}

async function lossAndGrads(c: Case, seed: number): Promise<number[][]> {
  const image = logits(c, seed), text = logits(c, seed + 1);
  const f = (i: tf.Tensor, t: tf.Tensor) =>
    nclipLoss(i as tf.Tensor2D, t as tf.Tensor2D, c.options);
  const loss = f(image, text);
  const grads = tf.grads(f)([image, text]);
  const out = await Promise.all([loss, ...grads].map(async (x) => Array.from(await x.data())));
  tf.dispose([image, text, loss, ...grads]);
  return out;
}

Deno.test({
  name: "kernels/nclip: loss and both logits' gradients match the composition",
  ...opts,
  async fn() {
    await tf.setBackend("cpu");
    const expected = await Promise.all(CASES.map((c, i) => lossAndGrads(c, 2 * i + 1)));
    await useNovalabWebGpu();
    const actual = await Promise.all(CASES.map((c, i) => lossAndGrads(c, 2 * i + 1)));
    CASES.forEach((c, i) =>
      ["loss", "dimage", "dtext"].forEach((name, k) =>
        assertClose(actual[i]![k]!, expected[i]![k]!, `${JSON.stringify(c)}: ${name}`, {
          atol: 1e-5,
          rtol: 1e-4,
        })
      )
    );
  },
});

Deno.test({
  name: "kernels/nclip: three dispatches forward, two backward, no tensors left",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const image = tf.variable(tf.tensor2d(values(6 * 10, 3), [6, 10]));
    const text = tf.variable(tf.tensor2d(values(6 * 10, 4), [6, 10]));
    await Promise.all([image.data(), text.data()]);
    const before = tf.memory().numTensors;
    counter.reset();
    const { value, grads } = tf.variableGrads(
      () => nclipLoss(image as tf.Tensor2D, text as tf.Tensor2D),
      [image, text],
    );
    await value.data();
    tf.dispose([value, ...Object.values(grads)]);
    assert.deepEqual(counter.read().byProgram, {
      NclipRowStatsProgram: 1,
      NclipColumnMeansProgram: 1,
      NclipFinishProgram: 1,
      NclipRowSmoothProgram: 1,
      NclipGradProgram: 1,
    });
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([image, text]);
  },
});
