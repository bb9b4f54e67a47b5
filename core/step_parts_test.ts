import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { batchValues, compileGraph } from "./graph.ts";
import type { GraphSpec, NodeSpec } from "./graph_spec.ts";
import { teacherEntry } from "./momentum_teacher.ts";
import { accumulateGradients, gradientFreeNodes, type StepParts } from "./step_parts.ts";
import { MemorySource, testRegistries, testTrainConfig } from "./testing.ts";
import type { Tensor } from "./tensor.ts";

const source = new MemorySource({ size: 32, shape: [32, 32, 1], classes: 4 });
const sample = (n: number) =>
  source.batch("train", 0, { batchSize: n, seed: 0, shuffle: false, dropLast: false });

function node(name: string, kind: string, inputs: string[], params: unknown): NodeSpec {
  return { name, kind, inputs, phase: "all", params };
}

/** A tower (frozen or not), its head, a caption side and a teacher of the head. */
function spec(frozenTower: boolean): GraphSpec {
  const tower = node("image", "vit", ["batch.image"], {
    preset: "tiny",
    patch: 4,
    dim: 32,
    depth: 2,
    heads: 2,
  });
  return {
    nodes: [
      { ...tower, ...(frozenTower ? { freeze: true } : {}) },
      node("pred", "mlp", ["image"], { layers: [8], activation: "gelu", norm: "none", bias: true }),
      node("text", "caption_code", ["batch.caption"], {}),
      node("proj", "mlp", ["text"], { layers: [8], activation: "gelu", norm: "none", bias: true }),
      ...(frozenTower ? [node("teacher", "ema", ["image"], { of: "pred", decay: 0.9 })] : []),
    ],
    losses: [
      {
        name: "a",
        kind: "prediction",
        inputs: { pred: "pred", target: "proj" },
        weight: 1,
        params: {},
      },
      ...(frozenTower
        ? [{
          name: "b",
          kind: "prediction",
          inputs: { pred: "pred", target: "teacher" },
          weight: 1,
          params: {},
        }]
        : []),
    ],
    locate: (path) => ({ file: "r.yaml", line: path.length, column: 3 }),
  };
}

async function parts(frozenTower: boolean): Promise<StepParts> {
  const registries = testRegistries();
  registries.modules.register(teacherEntry);
  const graph = await compileGraph(spec(frozenTower), {
    registries,
    seed: 0,
    cacheDir: "/tmp",
    sampleBatch: sample,
  });
  const params = graph.parameters(0);
  return {
    graph,
    params,
    byVariable: new Map(params.map((p) => [p.variable.name, p.name])),
    lossTargets: ["pred", "proj", "teacher"],
    active: new Set(["a", "b"]),
    config: testTrainConfig({ batch: 16 }),
    seed: 0,
    learningRate: () => 1e-3,
  } as unknown as StepParts;
}

/** The gradients and losses of one micro-batch with every node on the gradient tape. */
function taped(p: StepParts, values: Map<string, unknown>) {
  const ctx = { training: true, step: 0, seed: 5 };
  let losses: Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    p.graph.forward(values as never, ctx, p.lossTargets);
    const { total, terms } = p.graph.losses(values as never, ctx, p.active);
    losses = tf.keep(tf.stack([total, ...terms.values()]));
    return total;
  }, p.params.map((x) => x.variable));
  value.dispose();
  return { losses: losses!, grads };
}

Deno.test("gradient-free nodes: batch-field chains, frozen towers and teachers; not what a trained node feeds", async () => {
  await tf.setBackend("cpu");
  const frozen = await parts(true);
  assert.deepEqual(gradientFreeNodes(frozen), ["image", "text", "teacher"]);
  frozen.graph.dispose();
  // A trained tower carries gradients to everything downstream; the teacher reads it, so it is
  // not free (the compiler refuses a teacher whose input trains; here it is the check's input).
  const trained = await parts(false);
  const trainedSet = new Set<object>(trained.params.map((x) => x.variable));
  assert.deepEqual(trained.graph.gradientFree(trainedSet, ["pred", "proj"]), ["text"]);
  trained.graph.dispose();
});

Deno.test("gradient-free nodes run off the tape: same losses and gradients, less memory kept for backward", async () => {
  await tf.setBackend("cpu");
  const p = await parts(true);
  const ctx = { training: true, step: 0, seed: 5 };
  const batch = await sample(16);
  const before = tf.memory().numTensors;
  // Off the tape (accumulateGradients), then everything on it, on the same batch.
  const sums = new Map<string, Tensor>();
  const values = batchValues(batch);
  // Bytes alive when the losses start: the forward pass's, which the tape keeps for the backward.
  let retained = 0;
  const losses0 = p.graph.losses.bind(p.graph);
  p.graph.losses = (...args) => {
    retained = tf.memory().numBytes;
    return losses0(...args);
  };
  const losses = accumulateGradients(p, values, ctx, sums);
  const offTape = retained;
  const again = batchValues(batch);
  const reference = taped(p, again);
  const onTape = retained;
  assert.deepEqual([...await losses.data()], [...await reference.losses.data()]);
  assert.deepEqual([...sums.keys()].sort(), p.params.map((x) => x.name).sort());
  for (const x of p.params) {
    const got = await sums.get(x.name)!.data();
    assert.deepEqual([...got], [...await reference.grads[x.variable.name]!.data()], x.name);
  }
  // The frozen tower's activations no longer wait for the backward pass.
  assert.ok(
    offTape < 0.5 * onTape,
    `${offTape} bytes alive before the backward pass off the tape against ${onTape} on it`,
  );
  tf.dispose([losses, reference.losses, ...sums.values(), ...Object.values(reference.grads)]);
  tf.dispose([values.get("batch.label") as Tensor, again.get("batch.label") as Tensor]);
  assert.equal(tf.memory().numTensors, before, "nothing left behind");
  tf.dispose(batch.image);
  p.graph.dispose();
});
