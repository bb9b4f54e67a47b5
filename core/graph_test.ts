import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { compileGraph } from "./graph.ts";
import { batchAxisText } from "./graph_run.ts";
import { distillationModuleEntries } from "../models/entries_distill.ts";
import type { GraphSpec, NodeSpec } from "./graph_spec.ts";
import { renderMermaid } from "./mermaid.ts";
import { teacherEntry } from "./momentum_teacher.ts";
import { MemorySource, testRegistries as registries } from "./testing.ts";

const source = new MemorySource({ size: 16, shape: [8, 8, 1], classes: 4 });
const options = () => ({
  registries: registries(),
  seed: 0,
  cacheDir: "/tmp",
  sampleBatch: (n: number) =>
    source.batch("train", 0, { batchSize: n, seed: 0, shuffle: false, dropLast: false }),
});

function node(
  name: string,
  kind: string,
  inputs: string[],
  params: unknown,
  phase: "train" | "all" = "all",
): NodeSpec {
  return { name, kind, inputs, phase, params };
}

function spec(dim: number, extra: NodeSpec[] = []): GraphSpec {
  return {
    nodes: [
      node("image", "vit", ["batch.image"], {
        preset: "tiny",
        patch: 4,
        dim: 16,
        depth: 1,
        heads: 2,
      }),
      node("pred", "mlp", ["image"], {
        layers: [dim],
        activation: "gelu",
        norm: "none",
        bias: true,
      }),
      node("text", "caption_code", ["batch.caption"], {}),
      node("proj", "mlp", ["text"], { layers: [8], activation: "gelu", norm: "none", bias: true }),
      ...extra,
    ],
    losses: [{
      name: "prediction",
      kind: "prediction",
      inputs: { pred: "pred", target: "proj" },
      weight: 1,
      params: {},
    }],
    locate: (path) => ({ file: "r.yaml", line: path.length, column: 3 }),
  };
}

Deno.test("batchAxisText writes an axis by how it grows with the batch", () => {
  assert.equal(batchAxisText(7, 7, 2, 3), 7);
  assert.equal(batchAxisText(2, 3, 2, 3), "B");
  assert.equal(batchAxisText(4, 6, 2, 3), "2B");
  assert.equal(batchAxisText(4098, 4099, 2, 3), "B + 4096");
  assert.equal(batchAxisText(13, 16, 2, 3), "3B + 7");
  assert.equal(batchAxisText(1, 2, 2, 3), "B − 1");
  assert.equal(batchAxisText(4, 3, 2, 3), "?"); // shrinks with the batch
  assert.equal(batchAxisText(4, 9, 2, 4), "?"); // half a row per sample
});

Deno.test("graph: a group queue's output is shown as B + K, not as a batch axis", async () => {
  await tf.setBackend("cpu");
  const withQueue = options();
  withQueue.registries.modules.register(
    distillationModuleEntries.find((e) => e.kind === "group_queue")!,
  );
  const graph = await compileGraph(
    spec(8, [node("groups", "group_queue", ["batch.label"], { size: 5 }, "train")]),
    withQueue,
  );
  assert.deepEqual(graph.shapes.get("groups"), ["B + 5"]);
  assert.match(renderMermaid(graph), /n_groups\["groups: group_queue<br\/>\[B \+ 5\]"\]/);
  graph.dispose();
});

Deno.test("graph: compiles, measures shapes with batch axes, renders Mermaid", async () => {
  await tf.setBackend("cpu");
  const before = tf.memory().numTensors;
  const graph = await compileGraph(spec(8), options());
  assert.deepEqual(graph.shapes.get("image"), ["B", 16]);
  assert.deepEqual(graph.shapes.get("batch.image"), ["B", 8, 8, 1]);
  assert.deepEqual(graph.shapes.get("pred"), ["B", 8]);
  const mermaid = renderMermaid(graph);
  assert.match(mermaid, /n_pred\["pred: mlp<br\/>\[B, 8\]<br\/>136 params"\]/);
  assert.match(mermaid, /n_pred -->\|pred\| loss_0/);
  graph.dispose();
  assert.equal(tf.memory().numTensors, before, "compilation leaks no tensors");
});

Deno.test("graph: a shape mismatch names both shapes and the recipe line", async () => {
  await tf.setBackend("cpu");
  await assert.rejects(() => compileGraph(spec(6), options()), (e: Error) => {
    assert.match(
      e.message,
      /^r\.yaml:9:3: losses\[0\]: prediction failed on inputs pred \[2, 6\], target \[2, 8\]/,
    );
    return true;
  });
});

Deno.test("graph: missing nodes and cycles are rejected with the valid choices", async () => {
  await tf.setBackend("cpu");
  const missing = spec(8, [node("extra", "mlp", ["nope"], { layers: [2] })]);
  await assert.rejects(
    () => compileGraph(missing, options()),
    /nodes\.extra\.input: reference to missing node "nope"; expected one of: batch\.image, batch\.caption, batch\.label, image, pred, text, proj, extra/,
  );
  const cyclic: GraphSpec = {
    ...spec(8),
    nodes: [
      ...spec(8).nodes,
      node("a", "mlp", ["b"], { layers: [2] }),
      node("b", "mlp", ["a"], { layers: [2] }),
    ],
  };
  await assert.rejects(() => compileGraph(cyclic, options()), /cycle in the graph: a → b → a/);
});

Deno.test("graph: inference graph drops train-only nodes; reading one at inference is an error", async () => {
  await tf.setBackend("cpu");
  const trainOnly = node("head", "mlp", ["image"], {
    layers: [4],
    activation: "gelu",
    norm: "none",
    bias: true,
  }, "train");
  const graph = await compileGraph(spec(8, [trainOnly]), options());
  assert.ok(graph.parameters().some((p) => p.name.startsWith("head.")));
  assert.ok(!graph.inferenceParameters().some((p) => p.name.startsWith("head.")));
  assert.deepEqual(graph.inferenceNodes().map((n) => n.name), ["image", "pred", "text", "proj"]);
  const model = graph.inference({ seed: 0 });
  const batch = await source.batch("test", 0, {
    batchSize: 3,
    seed: 0,
    shuffle: false,
    dropLast: false,
  });
  const out = await model.run("pred", { image: batch.image });
  assert.deepEqual(out.shape, [3, 8]);
  await assert.rejects(() => model.run("head", { image: batch.image }), /train-only/);
  tf.dispose([out, batch.image]);
  graph.dispose();
  const bad = spec(8, [trainOnly, node("after", "mlp", ["head"], { layers: [2] })]);
  await assert.rejects(
    () => compileGraph(bad, options()),
    /nodes\.after\.phase: node "after" is kept at inference but reads train-only node "head"/,
  );
});

Deno.test("graph: a teacher is its source's kind built again, after it, equal to it, not trained", async () => {
  await tf.setBackend("cpu");
  const reg = registries();
  reg.modules.register(teacherEntry);
  const before = tf.memory().numTensors;
  // Listed before their sources: the build order follows `of`.
  const s = spec(8);
  s.nodes.unshift(
    node("pred_teacher", "ema", ["image_teacher"], { of: "pred", decay: 0.9 }),
    node("image_teacher", "ema", ["batch.image"], { of: "image", decay: 0.9, final: 1 }),
  );
  const graph = await compileGraph(s, { ...options(), registries: reg });
  const names = graph.order.map((n) => n.name);
  assert.ok(names.indexOf("pred") < names.indexOf("pred_teacher"));
  assert.ok(names.indexOf("image") < names.indexOf("image_teacher"));
  assert.deepEqual(graph.shapes.get("pred_teacher"), ["B", 8]);
  assert.ok(graph.parameters().every((p) => !p.name.startsWith("pred_teacher.")));
  const state = new Map(graph.state().map((p) => [p.name, p.variable.dataSync()]));
  assert.deepEqual(state.get("pred_teacher.layers.0.weight"), state.get("pred.layers.0.weight"));
  assert.match(renderMermaid(graph), /n_pred -\. ema \.-> n_pred_teacher/);
  assert.match(renderMermaid(graph), /pred_teacher: ema<br\/>\[B, 8\]<br\/>momentum 0\.9, not/);
  assert.match(renderMermaid(graph), /image_teacher: ema<br\/>\[B, 16\]<br\/>momentum 0\.9 → 1/);
  graph.dispose();
  assert.equal(tf.memory().numTensors, before, "compilation leaks no tensors");
  // Its input may not carry gradients: "image" trains.
  const reads = spec(8);
  reads.nodes.push(node("t", "ema", ["image"], { of: "pred", decay: 0.9 }));
  await assert.rejects(
    () => compileGraph(reads, { ...options(), registries: reg }),
    /nodes\.t\.input: the teacher reads "image", which depends on the trained parameters of "image"/,
  );
  assert.equal(tf.memory().numTensors, before, "a refused graph leaks no tensors");
  const missing = spec(8, [node("t", "ema", ["batch.image"], { of: "nope", decay: 0.9 })]);
  await assert.rejects(
    () => compileGraph(missing, { ...options(), registries: reg }),
    /nodes\.t\.of: "nope" is not another node/,
  );
});
