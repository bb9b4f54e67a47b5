/**
 * NOVA's fused mean squared error (`kernels/squared_error.ts`, used by
 * `losses/prediction.ts` on WebGPU) against the op composition on the CPU:
 * the loss and both gradients for a target broadcast over views and for
 * equal shapes, odd sizes, one element, and a sum over more elements than the
 * workgroup has threads; two dispatches in all. Runs on the fallback adapter
 * in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { predictionLoss } from "../losses/prediction.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/squared_error_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** `[pred shape, target shape]`. */
const SHAPES: [number[], number[]][] = [
  [[2, 5, 3], [5, 3]],
  [[4, 7], [4, 7]],
  [[3, 1, 1], [1, 1]],
  [[1, 1], [1, 1]],
  [[2, 130, 67], [130, 67]],
  [[3, 9, 11], [3, 9, 11]],
];

async function lossAndGrads(shapes: [number[], number[]], seed: number) {
  const pred = tf.tensor(values(shapes[0].reduce((a, b) => a * b), seed), shapes[0]);
  const target = tf.tensor(values(shapes[1].reduce((a, b) => a * b), seed + 1), shapes[1]);
  const dy = tf.scalar(0.75);
  const f = (p: tf.Tensor, t: tf.Tensor) => predictionLoss(p, t);
  const loss = f(pred, target);
  const [dp, dt] = tf.grads(f)([pred, target], dy);
  const out = await Promise.all([loss, dp!, dt!].map(async (x) => Array.from(await x.data())));
  tf.dispose([pred, target, dy, loss, dp!, dt!]);
  return out;
}

Deno.test({
  name: "kernels/squared_error: loss and both gradients match the composition (views, odd sizes)",
  ...opts,
  async fn() {
    await tf.setBackend("cpu");
    const expected = await Promise.all(SHAPES.map((s, i) => lossAndGrads(s, 3 * i + 1)));
    await useNovalabWebGpu();
    const actual = await Promise.all(SHAPES.map((s, i) => lossAndGrads(s, 3 * i + 1)));
    SHAPES.forEach((s, i) => {
      const what = `pred [${s[0]}], target [${s[1]}]`;
      assertClose(actual[i]![0]!, expected[i]![0]!, `${what}: loss`);
      assertClose(actual[i]![1]!, expected[i]![1]!, `${what}: dpred`);
      assertClose(actual[i]![2]!, expected[i]![2]!, `${what}: dtarget`);
    });
  },
});

Deno.test({
  name: "kernels/squared_error: one dispatch forward, one for both gradients",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const pred = tf.variable(tf.tensor(values(2 * 8 * 4, 5), [2, 8, 4]));
    const target = tf.variable(tf.tensor(values(8 * 4, 6), [8, 4]));
    await Promise.all([pred.data(), target.data()]);
    const before = tf.memory().numTensors;
    counter.reset();
    const { value, grads } = tf.variableGrads(() => predictionLoss(pred, target), [pred, target]);
    await value.data();
    const { byProgram } = counter.read();
    tf.dispose([value, ...Object.values(grads)]);
    assert.deepEqual(byProgram, {
      NovalabSquaredErrorProgram: 1,
      NovalabSquaredErrorGradProgram: 1,
    });
    assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    // A frozen target: its gradient is computed with pred's and released with the tape.
    const only = tf.variableGrads(() => predictionLoss(pred, target), [pred]);
    tf.dispose([only.value, ...Object.values(only.grads)]);
    assert.equal(tf.memory().numTensors, before, "no tensors left behind (frozen target)");
    tf.dispose([pred, target]);
  },
});
