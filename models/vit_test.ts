import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { VisionTransformer } from "./vit.ts";
import { VIT_PRESETS } from "./vit_presets.ts";
import { TakeToken } from "./tokens.ts";

const ctx = { training: true, step: 0, seed: 0 };

/** timm's parameter count for a ViT with biases, CLS token and final norm. */
function timmCount(d: number, depth: number, patch: number, c: number, tokens: number, r: number) {
  const block = 2 * 2 * d + (d * 3 * d + 3 * d) + (d * d + d) + (d * r * d + r * d) +
    (r * d * d + d);
  return patch * patch * c * d + d + d + tokens * d + depth * block + 2 * d;
}

Deno.test("vit: keeps leading axes and returns [..., D]", async () => {
  await tf.setBackend("cpu");
  const vit = new VisionTransformer(VIT_PRESETS.tiny!, { height: 28, width: 28, channels: 1 }, {
    name: "image",
    seed: 1,
  });
  const before = tf.memory().numTensors;
  const out = tf.tidy(() => vit.forward([tf.zeros([2, 3, 28, 28, 1])], ctx) as tf.Tensor);
  assert.deepEqual(out.shape, [2, 3, 64]);
  out.dispose();
  assert.equal(tf.memory().numTensors, before);
  vit.dispose();
});

Deno.test("vit: parameter names and count match timm's layout", async () => {
  await tf.setBackend("cpu");
  const cfg = VIT_PRESETS.ti!;
  const vit = new VisionTransformer(cfg, { height: 224, width: 224, channels: 3 }, {
    name: "image",
    seed: 1,
  });
  const count = vit.parameters.reduce((n, p) => n + p.variable.size, 0);
  assert.equal(count, timmCount(192, 12, 16, 3, 197, 4));
  // ViT-Ti/16 has 5.5 M parameters without a classifier head (timm: 5,524,416 + head).
  assert.equal(count, 5_524_416);
  const names = vit.parameters.map((p) => p.name);
  assert.ok(names.includes("image.blocks.11.attn.qkv.weight"));
  assert.ok(names.includes("image.pos_embed"));
  const noDecay = vit.parameters.filter((p) => !p.decay).map((p) => p.name);
  assert.ok(noDecay.every((n) => /bias|norm|pos_embed|cls_token/.test(n)), noDecay.join(","));
  vit.dispose();
});

Deno.test("vit: deterministic, and samples in a batch do not interact", async () => {
  await tf.setBackend("cpu");
  const vit = new VisionTransformer(
    { patch: 4, dim: 16, depth: 1, heads: 2, mlpRatio: 2 },
    { height: 8, width: 8, channels: 1 },
    { name: "v", seed: 3 },
  );
  const x = tf.randomUniform([2, 8, 8, 1], 0, 1, "float32", 5);
  const a = vit.forward([x], ctx) as tf.Tensor;
  const b = vit.forward([x], ctx) as tf.Tensor;
  assert.deepEqual(await a.array(), await b.array(), "deterministic forward");
  const y = tf.reverse(x, 0); // swap samples: outputs swap too (no cross-sample mixing)
  const c = vit.forward([y], ctx) as tf.Tensor;
  const diff = tf.max(tf.abs(tf.sub(tf.reverse(c, 0), a))).dataSync()[0]!;
  assert.ok(diff < 1e-5, `samples must not interact, diff ${diff}`);
  tf.dispose([x, a, b, y, c]);
  vit.dispose();
});

Deno.test("vit: output tokens gives [..., T, D] whose token 0 is the cls output", async () => {
  await tf.setBackend("cpu");
  const config = { patch: 4, dim: 16, depth: 1, heads: 2, mlpRatio: 2 };
  const geometry = { height: 8, width: 8, channels: 1 };
  const cls = new VisionTransformer(config, geometry, { name: "v", seed: 3 });
  const tokens = new VisionTransformer(config, geometry, { name: "v", seed: 3, output: "tokens" });
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const x = tf.randomUniform([2, 3, 8, 8, 1], 0, 1, "float32", 5);
    const all = tokens.forward([x], ctx) as tf.Tensor;
    assert.deepEqual(all.shape, [2, 3, 5, 16]); // CLS + 2×2 patches
    const first = new TakeToken(0).forward([all], ctx) as tf.Tensor;
    assert.deepEqual(first.arraySync(), (cls.forward([x], ctx) as tf.Tensor).arraySync());
    // Every token went through the final norm: zero mean over D (norm weight 1, bias 0 at init).
    const means = tf.mean(all, -1).arraySync() as number[][][];
    assert.ok(means.flat(2).every((m) => Math.abs(m) < 1e-5));
  });
  assert.equal(tf.memory().numTensors, before);
  cls.dispose();
  tokens.dispose();
});
