import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { BatchNorm } from "./batchnorm.ts";
import { ParameterStore } from "./layers.ts";
import { Mlp } from "./mlp.ts";

Deno.test("batchnorm: normalises over all leading axes; running stats follow PyTorch", async () => {
  await tf.setBackend("cpu");
  const store = new ParameterStore("head", 0);
  const bn = new BatchNorm(store, "bn", { dim: 2, momentum: 0.1 });
  // [V=2, B=2, D=2]: feature 0 = 1, 3, 5, 7 (mean 4, biased var 5, unbiased 20/3)
  const x = tf.tensor3d([[[1, 10], [3, 10]], [[5, 10], [7, 10]]]);
  const y = bn.apply(x, true);
  const expected0 = [1, 3, 5, 7].map((v) => (v - 4) / Math.sqrt(5 + 1e-5));
  const got = await y.data();
  [0, 2, 4, 6].forEach((i, k) => assert.ok(Math.abs(got[i]! - expected0[k]!) < 1e-5));
  assert.ok([1, 3, 5, 7].every((i) => Math.abs(got[i]!) < 1e-3), "constant feature → 0");
  bn.afterStep();
  const [mean, variance] = await Promise.all(bn.buffers.map((b) => b.variable.data()));
  assert.ok(Math.abs(mean![0]! - 0.4) < 1e-6 && Math.abs(mean![1]! - 1.0) < 1e-6);
  assert.ok(Math.abs(variance![0]! - (0.9 + 0.1 * 20 / 3)) < 1e-5);
  assert.ok(Math.abs(variance![1]! - 0.9) < 1e-6);
  // Inference uses the running statistics.
  const z = await bn.apply(tf.tensor2d([[0.4, 1]]), false).data();
  assert.ok(Math.abs(z[0]!) < 1e-6 && Math.abs(z[1]!) < 1e-6);
  assert.deepEqual(bn.buffers.map((b) => b.name), ["head.bn.running_mean", "head.bn.running_var"]);
  tf.dispose([x, y]);
  bn.dispose();
});

Deno.test("batchnorm: under train.accumulate the micro-batches' rows pooled, one update a step", async () => {
  await tf.setBackend("cpu");
  const bn = new BatchNorm(new ParameterStore("head", 0), "bn", { dim: 1, momentum: 0.5 });
  const apply = (rows: number[], micro?: number) =>
    bn.apply(tf.tensor2d(rows, [rows.length, 1]), true, undefined, { micro }).dispose();
  apply([100, -100]); // a step that never reached afterStep: dropped at the next micro-batch 0
  // Micro-batches [1, 3] and [5, 7, 9]: the rows 1…9 have mean 5, unbiased variance 10.
  apply([1, 3], 0);
  apply([5, 7, 9], 1);
  bn.afterStep();
  const [mean, variance] = bn.buffers.map((b) => b.variable.dataSync()[0]!);
  assert.ok(Math.abs(mean! - 0.5 * 5) < 1e-5, `mean ${mean}`);
  assert.ok(Math.abs(variance! - (0.5 + 0.5 * 10)) < 1e-5, `variance ${variance}`);
  // A teacher's forward (remember: false) adds nothing.
  apply([1, 3], 0);
  bn.apply(tf.tensor2d([[50]]), true, undefined, { remember: false, micro: 1 }).dispose();
  bn.afterStep();
  const [mean2] = bn.buffers.map((b) => b.variable.dataSync()[0]!);
  assert.ok(Math.abs(mean2! - (0.5 * 2.5 + 0.5 * 2)) < 1e-5, `mean ${mean2}`);
  bn.dispose();
});

Deno.test("batchnorm: an MLP with norm: batch exposes buffers and does not leak across steps", async () => {
  await tf.setBackend("cpu");
  const mlp = new Mlp({ inDim: 4, layers: [8, 3], activation: "gelu", norm: "batch", bias: true }, {
    name: "text",
    seed: 1,
  });
  assert.equal(mlp.buffers.length, 2);
  const x = tf.randomNormal([16, 4], 0, 1, "float32", 2);
  const vars = mlp.parameters.map((p) => p.variable);
  let count = 0;
  for (let step = 0; step < 4; step++) {
    const { value, grads } = tf.variableGrads(
      () =>
        tf.mean(
          tf.square(mlp.forward([x], { training: true, step, seed: 0 }) as tf.Tensor),
        ) as tf.Scalar,
      vars,
    );
    tf.dispose([value, ...Object.values(grads)]);
    mlp.afterStep();
    if (step === 1) count = tf.memory().numTensors;
    if (step > 1) assert.equal(tf.memory().numTensors, count);
  }
  const running = await mlp.buffers[0]!.variable.data();
  assert.ok(running.some((v) => v !== 0), "running mean moved");
  x.dispose();
  mlp.dispose();
});
