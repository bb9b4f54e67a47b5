/**
 * A loss term of weight exactly 0 is switched off: it is not computed, and the
 * nodes that only it reads do not run in a training step (what an ablation
 * toggle such as `losses[1].weight=0` relies on to cost nothing).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { z } from "zod";
import { compileGraph } from "./graph.ts";
import type { GraphSpec } from "./graph_spec.ts";
import { MemorySource, testRegistries, testTrainConfig } from "./testing.ts";
import { Trainer } from "./trainer.ts";

const source = new MemorySource({ size: 64, shape: [8, 8, 1], classes: 4 });
let trainingForwards = 0;

function registries() {
  const r = testRegistries();
  r.modules.register({
    kind: "counted",
    summary: "test: identity that counts its training-time forward calls",
    schema: z.strictObject({}),
    create: () => ({
      parameters: [],
      forward: (inputs, ctx) => {
        if (ctx.training) trainingForwards++;
        return inputs[0] as tf.Tensor;
      },
      dispose() {},
    }),
  });
  return r;
}

function spec(auxWeight: number, mainWeight = 1): GraphSpec {
  const mlp = (input: string, name: string) => ({
    name,
    kind: "mlp",
    inputs: [input],
    phase: "all" as const,
    params: { layers: [8], activation: "gelu", norm: "none", bias: true },
  });
  return {
    nodes: [
      {
        name: "image",
        kind: "vit",
        inputs: ["batch.image"],
        phase: "all",
        params: { preset: "tiny", patch: 4, dim: 16, depth: 1, heads: 2 },
      },
      mlp("image", "pred"),
      mlp("image", "side"),
      { name: "side_count", kind: "counted", inputs: ["side"], phase: "train", params: {} },
      { name: "text", kind: "caption_code", inputs: ["batch.caption"], phase: "all", params: {} },
    ],
    losses: [
      {
        name: "main",
        kind: "prediction",
        inputs: { pred: "pred", target: "text" },
        weight: mainWeight,
        params: {},
      },
      {
        name: "aux",
        kind: "prediction",
        inputs: { pred: "side_count", target: "text" },
        weight: auxWeight,
        params: {},
      },
    ],
  };
}

const config = testTrainConfig({
  steps: 3,
  schedule: { kind: "constant", warmup: 0, min_lr_ratio: 0 },
});

async function build(auxWeight: number, mainWeight = 1) {
  await tf.setBackend("cpu");
  return await compileGraph(spec(auxWeight, mainWeight), {
    registries: registries(),
    seed: 3,
    cacheDir: "/tmp",
    sampleBatch: (n) =>
      source.batch("train", 0, { batchSize: n, seed: 0, shuffle: false, dropLast: false }),
  });
}

async function values(graph: Awaited<ReturnType<typeof build>>, node: string) {
  const params = graph.parameters().filter((p) => p.name.startsWith(`${node}.`));
  assert.ok(params.length > 0, `node ${node} has parameters`);
  return await Promise.all(params.map(async (p) => Array.from(await p.variable.data())));
}

Deno.test("trainer: a weight-0 loss term and the nodes only it reads do not run", async () => {
  const graph = await build(0);
  const trainer = new Trainer(graph, source, { config, seed: 3 });
  assert.deepEqual(trainer.skipped, { terms: ["aux"], nodes: ["side", "side_count"] });
  const [side, pred] = [await values(graph, "side"), await values(graph, "pred")];
  trainingForwards = 0;
  for (let step = 0; step < 3; step++) {
    const m = await trainer.step(step);
    assert.deepEqual(Object.keys(m.terms), ["main"], "the skipped term is not computed");
    assert.ok(Math.abs(m.loss - m.terms.main!) < 1e-6, "total = the one active term");
  }
  assert.equal(trainingForwards, 0, "side_count never ran in a training step");
  assert.deepEqual(await values(graph, "side"), side, "side got no update (it did not run)");
  assert.notDeepEqual(await values(graph, "pred"), pred, "the active branch trained");
  await trainer.close();
  graph.dispose();
});

Deno.test("trainer: the same term with a weight other than 0 runs every step", async () => {
  const graph = await build(0.5);
  const trainer = new Trainer(graph, source, { config, seed: 3 });
  assert.deepEqual(trainer.skipped, { terms: [], nodes: [] });
  trainingForwards = 0;
  for (let step = 0; step < 3; step++) {
    assert.deepEqual(Object.keys((await trainer.step(step)).terms), ["main", "aux"]);
  }
  assert.equal(trainingForwards, 3);
  await trainer.close();
  graph.dispose();
});

Deno.test("trainer: every loss weight 0 is an error naming the terms", async () => {
  const graph = await build(0, 0);
  assert.throws(
    () => new Trainer(graph, source, { config, seed: 3 }),
    /every loss term has weight 0 \("main", "aux"\): nothing to train; expected at least one losses\[i\]\.weight other than 0/,
  );
  graph.dispose();
});
