import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { compileGraph } from "./graph.ts";
import { MemorySource, poisonedSpec, poisonRegistries, testTrainConfig } from "./testing.ts";
import { NonFiniteError, Trainer } from "./trainer.ts";

const source = new MemorySource({ size: 64, shape: [8, 8, 1], classes: 4 });

const config = testTrainConfig;

async function build(poisonAt?: number) {
  return await compileGraph(poisonedSpec(poisonAt ?? 1e9), {
    registries: poisonRegistries(),
    seed: 3,
    cacheDir: "/tmp",
    sampleBatch: (n) =>
      source.batch("train", 0, { batchSize: n, seed: 0, shuffle: false, dropLast: false }),
  });
}

async function snapshot(graph: Awaited<ReturnType<typeof build>>): Promise<number[][]> {
  return await Promise.all(
    graph.parameters().map(async (p) => Array.from(await p.variable.data())),
  );
}

Deno.test("trainer: loss decreases and the tensor count is constant over 20 steps", async () => {
  await tf.setBackend("cpu");
  const graph = await build();
  const trainer = new Trainer(graph, source, { config: config(), seed: 3 });
  const losses: number[] = [];
  let count = -1;
  for (let step = 0; step < 20; step++) {
    losses.push((await trainer.step(step)).loss);
    if (step === 1) count = tf.memory().numTensors;
    if (step > 1) assert.equal(tf.memory().numTensors, count, `tensor count grew at step ${step}`);
  }
  assert.ok(losses.at(-1)! < losses[0]! * 0.8, `loss ${losses[0]} → ${losses.at(-1)}`);
  graph.dispose();
});

Deno.test("trainer: gradient accumulation of 2×4 equals one batch of 8", async () => {
  await tf.setBackend("cpu");
  const a = await build();
  const b = await build();
  const ta = new Trainer(a, source, { config: config({ batch: 8, accumulate: 1 }), seed: 3 });
  const tb = new Trainer(b, source, { config: config({ batch: 4, accumulate: 2 }), seed: 3 });
  for (let step = 0; step < 3; step++) {
    const [ma, mb] = [await ta.step(step), await tb.step(step)];
    assert.ok(Math.abs(ma.loss - mb.loss) < 1e-5, `step ${step}: ${ma.loss} vs ${mb.loss}`);
  }
  const [pa, pb] = [await snapshot(a), await snapshot(b)];
  pa.forEach((values, i) =>
    values.forEach((v, j) => assert.ok(Math.abs(v - pb[i]![j]!) < 1e-5, `param ${i}[${j}]`))
  );
  a.dispose();
  b.dispose();
});

Deno.test("trainer: a NaN stops with a report and leaves the last good parameters", async () => {
  await tf.setBackend("cpu");
  const graph = await build(3);
  const trainer = new Trainer(graph, source, { config: config(), seed: 3 });
  for (let step = 0; step < 3; step++) await trainer.step(step);
  const good = await snapshot(graph);
  const before = tf.memory().numTensors;
  await assert.rejects(() => trainer.step(3), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError);
    assert.equal(e.step, 3);
    assert.match(
      e.message,
      /non-finite values at step 3: .*"loss":null.*parameters are those after step 2/,
    );
    return true;
  });
  assert.deepEqual(await snapshot(graph), good, "parameters untouched by the failed step");
  assert.equal(tf.memory().numTensors, before, "no tensors leaked by the failed step");
  assert.equal(trainer.optimizer.step, 3, "optimiser step not advanced");
  graph.dispose();
});
