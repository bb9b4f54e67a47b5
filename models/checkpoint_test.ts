/**
 * Activation checkpointing recomputes each ViT block in the backward pass:
 * values and gradients equal the plain ViT's bit for bit on WASM (novalab's
 * kernels) and on WebGPU (the fallback adapter in CI), under novalab's lean
 * backward pass and under tfjs's own `variableGrads`, also with patch
 * dropout and stochastic depth (the recomputed block multiplies by the same
 * masks), and a step's peak memory falls.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { leanVariableGrads } from "../core/lean_gradients.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";
import {
  type BlockCheckpointing,
  checkpointed,
  checkpointsBlock,
  tapeRecording,
} from "./checkpoint.ts";
import { blockCheckpointing, checkpointParam } from "./checkpoint_schema.ts";
import { VisionTransformer } from "./vit.ts";
import { TextTransformer } from "./text_transformer.ts";
import type { VitConfig } from "./vit_presets.ts";
import type { Tensor } from "../core/tensor.ts";
import { peakBytes } from "../bench/step_memory.ts";

const CONFIG: VitConfig = {
  patch: 4,
  dim: 16,
  depth: 3,
  heads: 2,
  mlpRatio: 2,
  layerScale: 0.5,
  activation: "gelu",
};
/** With training noise: patch dropout and stochastic depth (its masks kept as context). */
const NOISY: VitConfig = { ...CONFIG, layerScale: undefined, patchDropout: 0.3, dropPath: 0.5 };
const GEOMETRY = { height: 8, width: 8, channels: 1 };
const ctx = { training: true, step: 0, seed: 0 };

type Grads = typeof leanVariableGrads;

/** Loss and gradients (by parameter name) of a fixed projection of the embeddings. */
async function run(checkpoint: BlockCheckpointing, grads: Grads, batch = 3, config = CONFIG) {
  const vit = new VisionTransformer({ ...config, checkpoint }, GEOMETRY, { name: "v", seed: 3 });
  const images = tf.tidy(() => tf.randomUniform([batch, 8, 8, 1], 0, 1, "float32", 5));
  const direction = tf.tidy(() => tf.randomNormal([batch, 16], 0, 1, "float32", 6));
  const out = grads(
    () => tf.sum(tf.mul(vit.forward([images], ctx) as Tensor, direction)) as tf.Scalar,
    vit.parameters.map((p) => p.variable),
  );
  const byName = new Map(vit.parameters.map((p) => [p.variable.name, p.name]));
  const named = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(out.grads)) {
    named.set(byName.get(k)!, await g!.data() as Float32Array);
  }
  const loss = (await out.value.data())[0]!;
  tf.dispose([images, direction, out.value, ...Object.values(out.grads).filter((g) => g)]);
  vit.dispose();
  return { loss, named };
}

async function assertSame(grads: Grads, config = CONFIG) {
  const plain = await run(false, grads, 3, config);
  // Every block, and the first 2 of 3.
  for (const checkpoint of [true, 2]) {
    const before = tf.memory().numTensors;
    const kept = await run(checkpoint, grads, 3, config);
    assert.equal(tf.memory().numTensors, before, "nothing left alive");
    assert.equal(kept.loss, plain.loss);
    assert.equal(kept.named.size, plain.named.size);
    for (const [name, g] of plain.named) {
      assert.deepEqual(kept.named.get(name), g, `checkpoint ${checkpoint}: ${name}`);
    }
  }
}

Deno.test("checkpointed ViT blocks give the plain ViT's loss and gradients bit for bit (WASM)", async () => {
  await initBackend("wasm");
  await assertSame(leanVariableGrads);
  await assertSame(tf.variableGrads as Grads);
  await assertSame(leanVariableGrads, NOISY);
});

const skip = await webgpuSkipReason();
Deno.test({
  name: "checkpointed ViT blocks give the plain ViT's loss and gradients bit for bit (WebGPU)",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await useNovalabWebGpu();
    await assertSame(leanVariableGrads);
    await assertSame(leanVariableGrads, NOISY);
  },
});

Deno.test("a checkpointed ViT's step peaks lower", async () => {
  await initBackend("wasm");
  const peak = (checkpoint: BlockCheckpointing) => {
    const config = { ...CONFIG, depth: 8, dim: 32, checkpoint };
    const vit = new VisionTransformer(config, { height: 16, width: 16, channels: 1 }, {
      name: "v",
      seed: 3,
    });
    const images = tf.randomUniform([64, 16, 16, 1], 0, 1, "float32", 5);
    const base = tf.memory().numBytes;
    const bytes = peakBytes(() => {
      const out = leanVariableGrads(
        () => tf.mean(tf.square(vit.forward([images], ctx) as Tensor)) as tf.Scalar,
        vit.parameters.map((p) => p.variable),
      );
      tf.dispose([out.value, ...Object.values(out.grads)]);
    }) - base;
    tf.dispose(images);
    vit.dispose();
    return bytes;
  };
  const plain = peak(false), kept = peak(true), half = peak(4);
  assert.ok(kept < 0.6 * plain, `checkpointed ${kept} B, plain ${plain} B`);
  // The first 4 of 8 blocks: in between.
  assert.ok(kept < half && half < plain, `4 of 8 blocks ${half} B`);
});

Deno.test("checkpoint: true, the first N blocks, or none; N beyond the depth is refused", () => {
  assert.deepEqual([0, 1, 2].map((i) => checkpointsBlock(2, i)), [true, true, false]);
  assert.deepEqual([0, 5].map((i) => checkpointsBlock(true, i)), [true, true]);
  assert.ok(!checkpointsBlock(false, 0) && !checkpointsBlock(undefined, 0));
  assert.equal(blockCheckpointing(false, 12, "v"), undefined);
  assert.equal(blockCheckpointing(12, 12, "v"), true, "all of them");
  assert.equal(blockCheckpointing(6, 12, "v"), 6);
  assert.throws(
    () => blockCheckpointing(13, 12, "v"),
    /node "v": checkpoint 13 exceeds its 12 blocks; give 1–12 \(the first N blocks\) or true/,
  );
  const schema = checkpointParam("its input");
  assert.equal(schema.parse(undefined), false);
  assert.equal(schema.parse(3), 3);
  assert.throws(() => schema.parse(0));
  assert.throws(() => schema.parse(1.5));
});

Deno.test("off the tape a checkpointed block is the block", () => {
  const w = tf.variable(tf.ones([2]));
  const x = tf.tensor1d([1, 2]);
  assert.equal(tapeRecording(), false);
  const before = tf.memory().numTensors;
  const y = checkpointed((h) => tf.mul(h, w), x, [w]);
  assert.equal(tf.memory().numTensors, before + 1);
  assert.deepEqual(Array.from(y.dataSync()), [1, 2]);
  tf.dispose([w, x, y]);
});

Deno.test("checkpointed text-transformer blocks (masks kept as context) give the same gradients", async () => {
  await initBackend("wasm");
  const texts = ["a photo of a seven", "digit one", "a blurry photo of the number three", "nine"];
  const grads = async (checkpoint: BlockCheckpointing, causal: boolean) => {
    const tower = new TextTransformer({
      vocab: 512,
      buckets: 64,
      maxLength: 8,
      dim: 16,
      depth: 2,
      heads: 2,
      mlpRatio: 2,
      causal,
      pooling: causal ? "eot" : "mean",
      output: "pooled",
      checkpoint,
    }, { name: "t", seed: 4 });
    const direction = tf.randomNormal([4, 16], 0, 1, "float32", 6);
    const out = leanVariableGrads(
      () => tf.sum(tf.mul(tower.forward([texts], ctx) as Tensor, direction)) as tf.Scalar,
      tower.parameters.map((p) => p.variable),
    );
    const values = await Promise.all(Object.values(out.grads).map((g) => g.data()));
    tf.dispose([direction, out.value, ...Object.values(out.grads)]);
    tower.dispose();
    return values;
  };
  for (const causal of [true, false]) {
    const plain = await grads(false, causal);
    for (const checkpoint of [true, 1]) {
      const kept = await grads(checkpoint, causal);
      assert.equal(kept.length, plain.length);
      plain.forEach((g, i) =>
        assert.deepEqual(kept[i], g, `checkpoint ${checkpoint}, causal ${causal}, parameter ${i}`)
      );
    }
  }
});

Deno.test("a checkpointed block that reads a variable it was not given is refused; one listed twice counts once", async () => {
  await initBackend("wasm");
  const w = tf.variable(tf.tensor1d([1, 2])), u = tf.variable(tf.tensor1d([3, 4]));
  const x = tf.tensor1d([5, 6]);
  const loss = (vars: tf.Variable[]) => () =>
    tf.sum(checkpointed((h) => tf.mul(tf.mul(h, w), u), x, vars)) as tf.Scalar;
  const before = tf.memory().numTensors;
  assert.throws(() => leanVariableGrads(loss([w]), [w, u]), /read the variable .* not given/);
  assert.equal(tf.memory().numTensors, before, "nothing left alive");
  const twice = leanVariableGrads(loss([w, w, u]), [w, u]);
  assert.deepEqual(Array.from(await twice.grads[w.name]!.data()), [15, 24]);
  assert.deepEqual(Array.from(await twice.grads[u.name]!.data()), [5, 12]);
  tf.dispose([w, u, x, twice.value, ...Object.values(twice.grads)]);
});
