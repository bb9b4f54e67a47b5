/**
 * The trainer with a step in flight, on WebGPU with novalab's kernels (where
 * the guard and the gated updates are kernels): recording step k + 1 before
 * reading step k's metrics gives the same losses and parameters as reading
 * every step first, and a non-finite step found while the next one is already
 * on the device leaves parameters, optimiser state and BatchNorm running
 * statistics exactly as they were after the last good step — on WebGPU,
 * where the report gates the updates on the device, and on the CPU backend,
 * where the trainer reads the report before updating. Runs on the fallback
 * adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { compileGraph } from "./graph.ts";
import { MemorySource, poisonedSpec, poisonRegistries, testTrainConfig } from "./testing.ts";
import { NonFiniteError, Trainer } from "./trainer.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`core/trainer_pipeline_test.ts skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
const source = new MemorySource({ size: 64, shape: [8, 8, 1], classes: 4 });

const config = testTrainConfig();

async function build(poisonAt = 1e9, backend: "webgpu" | "cpu" = "webgpu") {
  if (backend === "webgpu") await useNovalabWebGpu();
  else await tf.setBackend("cpu");
  const graph = await compileGraph(poisonedSpec(poisonAt, { layers: [12, 8], norm: "batch" }), {
    registries: poisonRegistries(),
    seed: 3,
    cacheDir: "/tmp",
    sampleBatch: (n) =>
      source.batch("train", 0, { batchSize: n, seed: 0, shuffle: false, dropLast: false }),
  });
  return { graph, trainer: new Trainer(graph, source, { config, seed: 3 }) };
}

/** Parameters, BatchNorm running statistics and optimiser state, by name. */
async function everything(built: Awaited<ReturnType<typeof build>>) {
  const out = new Map<string, number[]>();
  for (const p of built.graph.state()) out.set(p.name, Array.from(await p.variable.data()));
  const optimizer = built.trainer.optimizer.state();
  for (const [name, t] of optimizer) out.set(name, Array.from(await t.data()));
  tf.dispose([...optimizer.values()]);
  return out;
}

Deno.test({
  name: "trainer: a step in flight while the previous one is read changes nothing in value",
  ...opts,
  async fn() {
    const sync = await build();
    const syncLosses: number[] = [];
    for (let step = 0; step < 5; step++) syncLosses.push((await sync.trainer.step(step)).loss);
    const expected = await everything(sync);
    await sync.trainer.close();
    sync.graph.dispose();

    const piped = await build();
    const losses: number[] = [];
    let pending = await piped.trainer.begin(0);
    for (let step = 1; step <= 5; step++) {
      const next = step < 5 ? await piped.trainer.begin(step) : undefined;
      const metrics = await pending.metrics();
      assert.equal(metrics.step, step - 1);
      assert.ok(metrics.ms > 0 && Number.isFinite(metrics.grad_norm));
      losses.push(metrics.loss);
      if (next) pending = next;
    }
    assert.deepEqual(losses, syncLosses, "the same losses, bit for bit");
    assert.deepEqual(await everything(piped), expected, "the same parameters and state");
    await piped.trainer.close();
    piped.graph.dispose();
  },
});

async function nanInFlight(backend: "webgpu" | "cpu") {
  const initial = tf.memory().numTensors;
  const built = await build(3, backend);
  const { trainer } = built;
  for (let step = 0; step < 3; step++) await trainer.step(step);
  const good = await everything(built);
  const third = await trainer.begin(3);
  const fourth = await trainer.begin(4);
  await assert.rejects(() => third.metrics(), (e: unknown) => {
    assert.ok(e instanceof NonFiniteError);
    assert.equal(e.step, 3);
    assert.match(e.message, /"loss":null.*parameters are those after step 2/);
    return true;
  });
  assert.deepEqual(await everything(built), good, "parameters, moments, running stats kept");
  assert.equal(trainer.optimizer.step, 3, "the skipped steps are not counted");
  await assert.rejects(() => fourth.metrics(), /read out of order or twice/);
  await trainer.close();
  trainer.optimizer.dispose();
  built.graph.dispose();
  const left = tf.memory().numTensors - initial;
  assert.equal(left, 0, `${left} tensors leaked (${backend})`);
}

Deno.test({
  name: "trainer: a NaN found with the next step in flight leaves the last good state (webgpu)",
  ...opts,
  fn: () => nanInFlight("webgpu"),
});

Deno.test({
  name: "trainer: a NaN found with the next step in flight leaves the last good state (cpu)",
  sanitizeOps: false,
  sanitizeResources: false,
  fn: () => nanInFlight("cpu"),
});

Deno.test({
  name: "trainer: with a step in flight each step's time ends when its report arrives (cpu)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // On the CPU a step computes inside begin(): timing each step up to the previous
    // step's metrics gave the last step ~0 ms (and millions of images/s).
    const built = await build(1e9, "cpu");
    const times: number[] = [];
    let pending = await built.trainer.begin(0);
    for (let step = 1; step <= 6; step++) {
      const next = step < 6 ? await built.trainer.begin(step) : undefined;
      times.push((await pending.metrics()).ms);
      if (next) pending = next;
    }
    const median = [...times].sort((a, b) => a - b)[3]!;
    assert.ok(times.every((t) => t > 0.05 * median), `step times ${times.join(", ")} ms`);
    await built.trainer.close();
    built.graph.dispose();
  },
});
