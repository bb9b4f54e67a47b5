/**
 * A replayed training step (`core/replayable_step.ts`) trains exactly as the
 * step run as written: a small ViT with a projection head, MSE to targets,
 * novalab's fused AdamW with a learning-rate schedule given as a function of
 * the update, new images every step. Losses and parameters agree bit for bit
 * (the same kernels run on the same buffers' values). On any WebGPU adapter
 * (CI: Mesa's fallback).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { AdamW } from "../core/optim.ts";
import { ReplayableStep } from "../core/replayable_step.ts";
import { leanVariableGrads } from "../core/lean_gradients.ts";
import { applyLinear, createLinear, ParameterStore } from "../models/layers.ts";
import { VisionTransformer } from "../models/vit.ts";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { useNovalabWebGpu, values, webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/step_replay_training_test.ts skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const STEPS = 7;

/**
 * Trains STEPS steps; returns the losses and the final parameter values. `checkpoint`: the ViT's
 * blocks recompute in the backward pass, whose memory is freed as it goes (`leanVariableGrads`).
 */
async function train(replay: boolean, checkpoint = false) {
  const vit = new VisionTransformer(
    { patch: 4, dim: 32, depth: 2, heads: 2, mlpRatio: 2, activation: "gelu", checkpoint },
    { height: 8, width: 8, channels: 3 },
    { name: "vit", seed: 0 },
  );
  const store = new ParameterStore("proj", 1);
  const head = createLinear(store, "head", { inDim: 32, outDim: 5 });
  const params = [...vit.parameters, ...store.parameters];
  const optimizer = new AdamW(params, { weightDecay: 0.05 });
  const byVar = new Map(params.map((p) => [p.variable.name, p.name]));
  const ctx = { training: true, step: 0, seed: 0 };
  const lr = (t: number) => 1e-2 * Math.min(1, t / 3) * 0.9 ** t; // warm-up, then decay
  const gradients = checkpoint ? leanVariableGrads : tf.variableGrads;
  const compute = ([x, y]: tf.Tensor[]) => {
    const { value, grads } = gradients(() => {
      const z = applyLinear(head, vit.forward([x!], ctx) as Tensor);
      return tf.mean(tf.square(tf.sub(z, y!))) as Scalar;
    }, params.map((p) => p.variable));
    optimizer.apply(new Map(Object.entries(grads).map(([k, g]) => [byVar.get(k)!, g])), lr);
    tf.dispose(Object.values(grads));
    return [value];
  };
  const step = new ReplayableStep(compute);
  const target = tf.tensor(values(4 * 5, 99), [4, 5]);
  const losses: number[] = [];
  for (let i = 0; i < STEPS; i++) {
    const images = tf.tensor(values(4 * 8 * 8 * 3, 10 + i), [4, 8, 8, 3]);
    const [loss] = replay ? step.run([images, target]) : compute([images, target]);
    losses.push((await loss!.data())[0]!);
    tf.dispose([loss!, images]);
    // A read caches the values on the CPU: the next replay must not leave that copy stale.
    for (const p of params) await p.variable.data();
  }
  const stats = step.stats;
  step.dispose();
  const finals = await Promise.all(params.map((p) => p.variable.data()));
  const steps = optimizer.step;
  tf.dispose([target]);
  optimizer.dispose();
  vit.dispose();
  store.parameters.forEach((p) => p.variable.dispose());
  return { losses, finals, stats, steps };
}

Deno.test(
  "a replayed ViT training step trains exactly as the step run as written",
  opts,
  async () => {
    await useNovalabWebGpu();
    const eager = await train(false);
    const replayed = await train(true);
    assert.equal(replayed.stats.mode, "replaying", `reason: ${replayed.stats.reason}`);
    assert.equal(replayed.stats.replays, STEPS - 3, "1 warm-up step, 2 recorded, then replays");
    assert.equal(replayed.steps, STEPS, "replays advanced the optimiser's step count");
    assert.deepEqual(replayed.losses, eager.losses);
    assert.ok(eager.losses[STEPS - 1]! < eager.losses[0]!, `it learns: ${eager.losses}`);
    eager.finals.forEach((want, i) => {
      assert.deepEqual(Array.from(replayed.finals[i]!), Array.from(want), `parameter ${i}`);
    });
  },
);

Deno.test(
  "a replayed step of checkpointed blocks under the lean backward pass trains exactly as the plain one",
  opts,
  async () => {
    await useNovalabWebGpu();
    const plain = await train(false);
    const replayed = await train(true, true);
    assert.equal(replayed.stats.mode, "replaying", `reason: ${replayed.stats.reason}`);
    assert.deepEqual(replayed.losses, plain.losses);
    plain.finals.forEach((want, i) => {
      assert.deepEqual(Array.from(replayed.finals[i]!), Array.from(want), `parameter ${i}`);
    });
  },
);

Deno.test("a learning rate passed as a changing number is not replayed", opts, async () => {
  await useNovalabWebGpu();
  const store = new ParameterStore("p", 1);
  const layer = createLinear(store, "l", { inDim: 3, outDim: 2 });
  const optimizer = new AdamW(store.parameters);
  let lr = 0.1;
  const step = new ReplayableStep(([x]) => {
    const { value, grads } = tf.variableGrads(
      () => tf.sum(applyLinear(layer, x as Tensor)) as Scalar,
      store.parameters.map((p) => p.variable),
    );
    const names = new Map(store.parameters.map((p) => [p.variable.name, p.name]));
    optimizer.apply(new Map(Object.entries(grads).map(([k, g]) => [names.get(k)!, g])), lr);
    tf.dispose(Object.values(grads));
    return [value];
  });
  const x = tf.ones([2, 3]);
  for (let i = 0; i < 5; i++, lr /= 2) tf.dispose(step.run([x]));
  assert.equal(step.stats.mode, "refused");
  assert.match(step.stats.reason!, /function of the step/);
  tf.dispose(x);
  optimizer.dispose();
  store.parameters.forEach((p) => p.variable.dispose());
});
