import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { z } from "zod";
import { compileGraph } from "../core/graph.ts";
import type { GraphSpec, NodeSpec } from "../core/graph_spec.ts";
import type { GraphValues } from "../core/graph_run.ts";
import type { NodeValue } from "../core/types.ts";
import { MemorySource, testRegistries } from "../core/testing.ts";
import { issue4ModuleEntries } from "./entries_issue4.ts";
import { fusionInputDims, FusionTransformer } from "./fusion.ts";
import { packTextTokens } from "./tokens.ts";

await tf.setBackend("cpu");
const run = { training: true, step: 0, seed: 0 };

function fusion(width = 16): FusionTransformer {
  return new FusionTransformer(
    { imageDim: 6, textDim: 5, width, layers: 2, heads: 4, mlpRatio: 4 },
    { name: "fused", seed: 3 },
  );
}

/** Packed text: B = 2, L = 4; sample 0 has 3 real tokens, sample 1 has 1. */
function text(features: tf.Tensor): tf.Tensor {
  return packTextTokens(features, tf.tensor2d([[1, 1, 1, 0], [1, 0, 0, 0]]));
}

Deno.test("fusion: [V, B, T, Di] + [B, L, Dt + 1] → unit [V, B, W]; parameters; no leak", () => {
  const f = fusion();
  const names = f.parameters.map((p) => p.name);
  assert.ok(names.includes("fused.image_proj.weight") && names.includes("fused.text_proj.weight"));
  assert.ok(names.includes("fused.blocks.1.attn.qkv.weight") && names.includes("fused.norm.bias"));
  assert.ok(!names.some((n) => n.startsWith("fused.blocks.2")), "2 layers");
  const count = f.parameters.reduce((s, p) => s + p.variable.size, 0);
  const block = 4 * 16 + (16 * 48 + 48) + (16 * 16 + 16) + (16 * 64 + 64) + (64 * 16 + 16);
  assert.equal(count, (6 * 16 + 16) + (5 * 16 + 16) + 2 * block + 2 * 16);
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => {
    const image = tf.randomNormal([3, 2, 5, 6], 0, 1, "float32", 1);
    return f.forward(
      [image, text(tf.randomNormal([2, 4, 5], 0, 1, "float32", 2))],
      run,
    ) as tf.Tensor;
  });
  assert.deepEqual(out.shape, [3, 2, 16]);
  const norms = tf.tidy(() => tf.norm(out, "euclidean", -1).arraySync() as number[][]);
  for (const n of norms.flat()) assert.ok(Math.abs(n - 1) < 1e-5, `unit rows, got ${n}`);
  out.dispose();
  assert.equal(tf.memory().numTensors, before);
  f.dispose();
});

Deno.test("fusion: padded text tokens are masked keys; real tokens and views matter", () => {
  const f = fusion();
  tf.tidy(() => {
    const view = tf.randomNormal([1, 2, 5, 6], 0, 1, "float32", 4);
    const image = tf.concat([view, view, tf.randomNormal([1, 2, 5, 6], 0, 1, "float32", 5)], 0);
    const feats = tf.randomNormal([2, 4, 5], 0, 1, "float32", 6);
    const base = f.forward([image, text(feats)], run) as tf.Tensor;
    // Same view twice → same fused embedding; a different view → a different one.
    const [a, b, c] = tf.split(base, 3, 0).map((t) => t.arraySync() as number[][][]);
    assert.deepEqual(a, b);
    assert.notDeepEqual(a, c);
    // Overwrite the features of padded positions in the packed input directly.
    const noise = tf.randomNormal([2, 4, 5], 0, 100, "float32", 7);
    const pad = tf.tensor2d([[0, 0, 0, 1], [0, 1, 1, 1]]).expandDims(-1);
    const packed = text(feats);
    const dirty = tf.concat([
      tf.add(tf.slice(packed, [0, 0, 0], [-1, -1, 5]), tf.mul(noise, pad)),
      tf.slice(packed, [0, 0, 5], [-1, -1, 1]),
    ], -1);
    const masked = f.forward([image, dirty], run) as tf.Tensor;
    const diff = tf.max(tf.abs(tf.sub(masked, base))).arraySync() as number;
    assert.ok(diff < 1e-5, `padding must not change the output, diff ${diff}`);
    // Changing a real token of sample 1 changes sample 1 only.
    const real = tf.mul(noise, tf.tensor3d([[[0], [0], [0], [0]], [[1], [0], [0], [0]]]));
    const moved = f.forward([image, text(tf.add(feats, real))], run) as tf.Tensor;
    const perSample = tf.max(tf.abs(tf.sub(moved, base)), [0, 2]).arraySync() as number[];
    assert.ok(perSample[0]! < 1e-6 && perSample[1]! > 1e-3, `per sample: ${perSample}`);
    // [B, T, Di] input gives [B, W], equal to the V = 1 case.
    const single = f.forward([tf.squeeze(view, [0]), text(feats)], run) as tf.Tensor;
    assert.deepEqual(single.arraySync(), a[0]);
  });
  f.dispose();
});

Deno.test("fusion: gradients reach every parameter; bad shapes are named", () => {
  const f = fusion(8);
  const image = tf.randomNormal([2, 2, 5, 6], 0, 1, "float32", 8);
  const packed = text(tf.randomNormal([2, 4, 5], 0, 1, "float32", 9));
  const target = tf.randomNormal([2, 2, 8], 0, 1, "float32", 10);
  const { grads } = tf.variableGrads(() =>
    tf.sum(tf.mul(f.forward([image, packed], run) as tf.Tensor, target)) as tf.Scalar
  );
  for (const p of f.parameters) {
    const g = grads[p.variable.name]!;
    assert.ok(
      tf.tidy(() => tf.max(tf.abs(g)).arraySync() as number) > 0,
      `${p.name} has no gradient`,
    );
  }
  tf.dispose([image, target, ...Object.values(grads)]);
  assert.throws(
    () => tf.tidy(() => f.forward([tf.zeros([2, 3, 5, 6]), packed], run)),
    /disagree on the batch size/,
  );
  packed.dispose();
  f.dispose();
  assert.deepEqual(fusionInputDims([[-1, -1, 5, 6], [-1, 4, 6]], "x"), { imageDim: 6, textDim: 5 });
  assert.throws(
    () => fusionInputDims([[-1, 6]], "x"),
    /expects 2 inputs \[image_tokens, text_tokens\], got 1/,
  );
  assert.throws(
    () => fusionInputDims([[-1, 6], [-1, 4, 6]], "x"),
    /must be \[V, B, T, Di\] or \[B, T, Di\], got \[-1, 6\]/,
  );
  assert.throws(
    () => fusionInputDims([[-1, 5, 6], [-1, 6]], "x"),
    /must be packed \[B, L, Dt \+ 1\].*got \[-1, 6\]/,
  );
});

// ——— The fusion node in a recipe graph: train-only, absent from inference. ———

const source = new MemorySource({ size: 16, shape: [8, 8, 1], classes: 4 });

function registries() {
  const r = testRegistries();
  for (const e of issue4ModuleEntries) r.modules.register(e);
  r.modules.register({
    kind: "two_views",
    summary: "test: [B, H, W, C] → [2, B, H, W, C] (the image and its mirror)",
    schema: z.strictObject({}),
    create: () => ({
      parameters: [],
      forward: (inputs) => {
        const x = inputs[0] as tf.Tensor4D;
        return tf.stack([x, tf.reverse(x, 2)]);
      },
      dispose() {},
    }),
  });
  r.modules.register({
    kind: "caption_chars",
    summary: "test: caption → packed one-hot characters [B, 12, 9]",
    schema: z.strictObject({}),
    create: () => ({
      parameters: [],
      forward: (inputs) => {
        const texts = inputs[0] as string[];
        const codes = texts.map((s) => Array.from({ length: 12 }, (_, i) => s.charCodeAt(i) % 8));
        const mask = texts.map((s) => Array.from({ length: 12 }, (_, i) => (i < s.length ? 1 : 0)));
        return packTextTokens(
          tf.oneHot(tf.tensor2d(codes, undefined, "int32"), 8).toFloat(),
          tf.tensor2d(mask),
        );
      },
      dispose() {},
    }),
  });
  return r;
}

function node(
  name: string,
  kind: string,
  inputs: string[],
  params: unknown,
  phase: "train" | "all" = "all",
): NodeSpec {
  return { name, kind, inputs, phase, params };
}

const mlp = { layers: [8], activation: "gelu", norm: "none", bias: true };
const itoSpec: GraphSpec = {
  nodes: [
    node("views", "two_views", ["batch.image"], {}),
    node("image_tokens", "vit", ["views"], {
      preset: "tiny",
      patch: 4,
      dim: 16,
      depth: 1,
      heads: 2,
      output: "tokens",
    }),
    node("image", "take_token", ["image_tokens"], { index: 0 }),
    node("image_proj", "mlp", ["image"], mlp),
    node("text", "caption_code", ["batch.caption"], {}),
    node("text_proj", "mlp", ["text"], mlp),
    node("text_tokens", "caption_chars", ["batch.caption"], {}, "train"),
    node("fused", "fusion", ["image_tokens", "text_tokens"], {
      width: 8,
      layers: 2,
      heads: 2,
      mlp_ratio: 4,
    }, "train"),
  ],
  losses: [
    {
      name: "align",
      kind: "prediction",
      inputs: { pred: "image_proj", target: "text_proj" },
      weight: 1,
      params: {},
    },
    {
      name: "fusion",
      kind: "prediction",
      inputs: { pred: "fused", target: "text_proj" },
      weight: 2,
      params: {},
    },
  ],
};

Deno.test("fusion graph: the inference graph has no fusion parameters and the same embeddings", async () => {
  const before = tf.memory().numTensors;
  const options = {
    registries: registries(),
    seed: 0,
    cacheDir: "",
    sampleBatch: (n: number) =>
      source.batch("train", 0, { batchSize: n, seed: 0, shuffle: false, dropLast: false }),
  };
  const graph = await compileGraph(itoSpec, options);
  assert.deepEqual(graph.shapes.get("image_tokens"), [2, "B", 5, 16]);
  assert.deepEqual(graph.shapes.get("fused"), [2, "B", 8]);
  const fusionParams = graph.parameters().filter((p) => p.name.startsWith("fused."));
  assert.ok(fusionParams.length > 10, "the training graph holds the fusion transformer");
  assert.deepEqual(graph.inferenceParameters().filter((p) => p.name.startsWith("fused.")), []);
  assert.deepEqual(graph.inferenceState().filter((p) => p.name.startsWith("fused.")), []);
  assert.deepEqual(graph.inferenceNodes().map((n) => n.name), [
    "views",
    "image_tokens",
    "image",
    "image_proj",
    "text",
    "text_proj",
  ]);

  const batch = await source.batch("test", 1, {
    batchSize: 4,
    seed: 0,
    shuffle: false,
    dropLast: false,
  });
  const train = tf.tidy(() => {
    const values: GraphValues = new Map<string, NodeValue>([["batch.image", batch.image], [
      "batch.caption",
      batch.caption,
    ]]);
    graph.forward(values, run);
    const { total } = graph.losses(values, run);
    assert.ok(Number.isFinite(total.arraySync() as number));
    return [values.get("image_proj"), values.get("text_proj")] as tf.Tensor[];
  });
  const model = graph.inference({ seed: 0 });
  const image = await model.run("image_proj", { image: batch.image });
  const textOut = await model.run("text_proj", { caption: batch.caption });
  assert.deepEqual(image.arraySync(), train[0]!.arraySync());
  assert.deepEqual(textOut.arraySync(), train[1]!.arraySync());
  await assert.rejects(
    () => model.run("fused", { image: batch.image, caption: batch.caption }),
    /train-only/,
  );
  tf.dispose([...train, image, textOut, batch.image]);
  graph.dispose();
  assert.equal(tf.memory().numTensors, before, "no leak");
});
