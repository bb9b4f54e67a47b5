/**
 * The ViT's timm options (LayerScale, registers, patch-only positions,
 * `norm_pre`, average pooling with `fc_norm`, QuickGELU, LayerNorm eps; SigLIP's MAP
 * attention pooling and tanh-GELU; DINOv2-g's SwiGLU MLPs) train on every backend: the
 * gradient of every parameter on WASM (novalab's kernels) and WebGPU (novalab's
 * kernels, the fallback adapter in CI) equals tfjs's CPU autodiff, which
 * itself matches central finite differences on LayerScale's γ and a register.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { assertClose, useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";
import { VisionTransformer } from "./vit.ts";
import "../core/builtins.ts";
import { modules } from "../core/components.ts";
import type { VitConfig } from "./vit_presets.ts";

const CONFIG: VitConfig = {
  patch: 7,
  dim: 16,
  depth: 2,
  heads: 2,
  mlpRatio: 2,
  layerScale: 0.5,
  registers: 2,
  prefixPositions: false,
  normPre: true,
  pool: "avg",
  activation: "quick_gelu",
  normEps: 1e-5,
};
const GEOMETRY = { height: 14, width: 14, channels: 1 };
const ctx = { training: true, step: 0, seed: 0 };

/**
 * The ViT of `config`, its registers drawn at a trained scale (their init, σ = 1e-6, sits where
 * `norm_pre` amplifies a million-fold and finite differences cannot follow).
 */
function build(config: VitConfig): VisionTransformer {
  const vit = new VisionTransformer(config, GEOMETRY, { name: "v", seed: 3 });
  const registers = vit.parameters.find((p) => p.name === "v.reg_token")!.variable;
  registers.assign(tf.tidy(() => tf.randomNormal(registers.shape, 0, 0.5, "float32", 7)));
  return vit;
}

/** Gradients of a fixed projection of the embeddings, by parameter name, on the active backend. */
async function gradients(config: VitConfig): Promise<Map<string, Float32Array>> {
  const vit = build(config);
  const images = tf.tidy(() => tf.randomUniform([3, 14, 14, 1], 0, 1, "float32", 5));
  const direction = tf.tidy(() => tf.randomNormal([3, 16], 0, 1, "float32", 6));
  const { grads } = tf.variableGrads(
    () => tf.sum(tf.mul(vit.forward([images], ctx) as tf.Tensor, direction)) as tf.Scalar,
    vit.parameters.map((p) => p.variable),
  );
  const byName = new Map(vit.parameters.map((p) => [p.variable.name, p.name]));
  const out = new Map<string, Float32Array>();
  for (const [k, g] of Object.entries(grads)) {
    out.set(byName.get(k)!, await g.data() as Float32Array);
  }
  tf.dispose([images, direction, ...Object.values(grads)]);
  vit.dispose();
  return out;
}

/** The objective of {@linkcode gradients} with one parameter entry moved by `delta`. */
function objective(config: VitConfig, name: string, index: number, delta: number): number {
  const vit = build(config);
  const p = vit.parameters.find((q) => q.name === name)!;
  const values = p.variable.dataSync().slice();
  values[index]! += delta;
  p.variable.assign(tf.tensor(values, p.variable.shape));
  const value = tf.tidy(() => {
    const images = tf.randomUniform([3, 14, 14, 1], 0, 1, "float32", 5);
    const direction = tf.randomNormal([3, 16], 0, 1, "float32", 6);
    return tf.sum(tf.mul(vit.forward([images], ctx) as tf.Tensor, direction)).dataSync()[0]!;
  });
  vit.dispose();
  return value;
}

/** `cpu`'s gradient entries `[name, index]` against central differences of the objective (h 1e-2). */
function assertFiniteDifferences(
  config: VitConfig,
  cpu: Map<string, Float32Array>,
  checked: (readonly [string, number])[],
): void {
  for (const [name, index] of checked) {
    const h = 1e-2;
    const numeric = (objective(config, name, index, h) - objective(config, name, index, -h)) /
      (2 * h);
    const analytic = cpu.get(name)![index]!;
    assert.ok(
      Math.abs(numeric - analytic) < 2e-3 + 2e-2 * Math.abs(analytic),
      `${name}[${index}]: ${analytic} vs ${numeric}`,
    );
  }
}

Deno.test("vit variants: without a class token there is nothing but the patch mean to pool", async () => {
  await tf.setBackend("cpu");
  const noCls = { ...CONFIG, pool: "cls" as const, classToken: false };
  assert.throws(
    () => new VisionTransformer(noCls, GEOMETRY, { name: "v", seed: 3 }),
    /node "v" \(vit\): class_token: false leaves no CLS to pool; use pool: avg or pool: map/,
  );
  const before = tf.memory().numTensors;
  const gap = new VisionTransformer({ ...CONFIG, classToken: false }, GEOMETRY, {
    name: "v",
    seed: 3,
  });
  assert.ok(!gap.parameters.some((p) => p.name === "v.cls_token"));
  assert.equal(gap.positionPrefix, 0);
  gap.dispose();
  assert.equal(tf.memory().numTensors, before, "no tensor left behind");
});

Deno.test("vit variants: a factory handed params without the schema's defaults builds timm's default ViT", async () => {
  await tf.setBackend("cpu");
  const vit = modules.get("vit").create({ patch: 7, dim: 16, depth: 1, heads: 2, mlp_ratio: 2 }, {
    name: "v",
    inputShapes: [[-1, 14, 14, 1]],
    seed: 3,
    cacheDir: "",
  }) as VisionTransformer;
  assert.equal(vit.positionPrefix, 1, "the CLS, with a position");
  assert.ok(vit.parameters.some((p) => p.name === "v.cls_token"));
  assert.ok(vit.parameters.some((p) => p.name === "v.norm.weight"), "pool cls: the final norm");
  assert.equal(vit.config.activation, undefined);
  vit.dispose();
});

Deno.test("vit variants: CPU gradients of γ and a register match finite differences", async () => {
  await tf.setBackend("cpu");
  const cpu = await gradients(CONFIG);
  assertFiniteDifferences(CONFIG, cpu, [
    ["v.blocks.1.ls2.gamma", 3],
    ["v.reg_token", 5],
    ["v.norm_pre.weight", 1],
  ]);
  for (
    const name of ["v.reg_token", "v.blocks.0.ls1.gamma", "v.fc_norm.weight", "v.norm_pre.bias"]
  ) {
    assert.ok(cpu.get(name)!.some((g) => g !== 0), `${name} gets a gradient`);
  }
  assert.ok(!cpu.has("v.norm.weight"), "pool avg has fc_norm, no norm");
});

Deno.test({
  name: "vit variants: WASM gradients equal the CPU's",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await tf.setBackend("cpu");
    const cpu = await gradients(CONFIG);
    await initBackend("wasm");
    for (const [name, g] of await gradients(CONFIG)) {
      assertClose(g, cpu.get(name)!, name, { atol: 1e-4, rtol: 1e-3 });
    }
  },
});

const skip = await webgpuSkipReason();
Deno.test({
  name: "vit variants: WebGPU gradients (novalab's kernels) equal the CPU's",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await tf.setBackend("cpu");
    const cpu = await gradients(CONFIG);
    await useNovalabWebGpu();
    for (const [name, g] of await gradients(CONFIG)) {
      assertClose(g, cpu.get(name)!, name, { atol: 1e-4, rtol: 1e-3 });
    }
  },
});

/** SigLIP's tower: no CLS, a register, MAP attention pooling, tanh-GELU in blocks and head. */
const MAP_CONFIG: VitConfig = {
  patch: 7,
  dim: 16,
  depth: 2,
  heads: 2,
  mlpRatio: 2,
  classToken: false,
  registers: 1,
  pool: "map",
  activation: "gelu_tanh",
};

/** DINOv2-g's blocks: SwiGLU MLPs (timm's SwiGLUPacked) with LayerScale and a register. */
const SWIGLU_CONFIG: VitConfig = {
  patch: 7,
  dim: 16,
  depth: 2,
  heads: 2,
  mlpRatio: 2.75,
  registers: 1,
  layerScale: 0.5,
  mlp: "swiglu",
};

/**
 * FLIP's patch dropout and stochastic depth: at the test's seed 0 the three images keep patches
 * {0, 3}, {0, 3}, {1, 3} of 4 (patch 2 nowhere) and every image drops block 1's MLP branch.
 */
const NOISY_CONFIG: VitConfig = { // (and a register, kept as the CLS is)
  patch: 7,
  dim: 16,
  depth: 2,
  heads: 2,
  mlpRatio: 2,
  registers: 1,
  patchDropout: 0.5,
  dropPath: 0.5,
};

/** Each configuration, the entries checked by finite differences, and the tensors that must exist. */
const NEW_CASES: [
  string,
  VitConfig,
  [string, number][],
  (cpu: Map<string, Float32Array>) => void,
][] = [
  ["pool map", MAP_CONFIG, [
    ["v.attn_pool.latent", 2],
    ["v.attn_pool.q.weight", 5],
    ["v.attn_pool.kv.weight", 40],
    ["v.attn_pool.mlp.fc1.bias", 3],
    ["v.blocks.0.mlp.fc1.bias", 1],
  ], (cpu) => {
    assert.ok(cpu.get("v.attn_pool.norm.weight")!.some((g) => g !== 0));
    assert.ok(cpu.has("v.norm.weight"), "pool map attends over the tokens after norm");
    assert.ok(!cpu.has("v.fc_norm.weight"));
  }],
  ["mlp swiglu", SWIGLU_CONFIG, [
    ["v.blocks.0.mlp.fc1.weight", 7], // a gate column (first half)
    ["v.blocks.0.mlp.fc1.weight", 3 * 44 + 30], // a value column (second half)
    ["v.blocks.1.mlp.fc2.weight", 11],
  ], (cpu) => {
    assert.equal(cpu.get("v.blocks.0.mlp.fc1.bias")!.length, 44, "⌊16 · 2.75⌋");
    assert.equal(cpu.get("v.blocks.0.mlp.fc2.weight")!.length, 22 * 16, "fc2 reads half of it");
    assert.throws(
      () =>
        new VisionTransformer({ ...SWIGLU_CONFIG, mlpRatio: 2.7 }, GEOMETRY, {
          name: "v",
          seed: 3,
        }),
      /mlp_ratio 2\.7 × dim 16 gives an MLP width of 43; expected an even width \(mlp: swiglu halves it\)/,
    );
  }],
  ["patch dropout and drop path", NOISY_CONFIG, [
    ["v.pos_embed", 2 * 16 + 3], // patch 0's position (after the CLS's and the register's)
    ["v.patch_embed.proj.weight", 5],
    ["v.blocks.1.attn.qkv.weight", 9],
    ["v.blocks.0.mlp.fc1.bias", 2],
  ], (cpu) => {
    const pos = cpu.get("v.pos_embed")!;
    for (const row of [0, 1, 2, 3, 5]) {
      assert.ok(pos.subarray(16 * row, 16 * row + 16).some((g) => g !== 0), `position ${row}`);
    }
    assert.ok(pos.subarray(64, 80).every((g) => g === 0), "patch 2, dropped by every image");
    for (const name of ["v.blocks.1.mlp.fc1.bias", "v.blocks.1.mlp.fc2.weight"]) {
      assert.ok(cpu.get(name)!.every((g) => g === 0), `${name}: every image dropped the branch`);
    }
    assert.ok(cpu.get("v.blocks.1.attn.proj.bias")!.some((g) => g !== 0));
  }],
];

for (const [what, config, checked, extra] of NEW_CASES) {
  Deno.test(`vit variants: ${what}'s gradients match finite differences on the CPU`, async () => {
    await tf.setBackend("cpu");
    const cpu = await gradients(config);
    assertFiniteDifferences(config, cpu, checked);
    extra(cpu);
  });

  Deno.test({
    name: `vit variants: ${what}'s gradients on WASM and WebGPU equal the CPU's`,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await tf.setBackend("cpu");
      const cpu = await gradients(config);
      const backends = [() => initBackend("wasm").then(() => {})];
      if (skip === null) backends.push(() => useNovalabWebGpu().then(() => {}));
      for (const activate of backends) {
        await activate();
        for (const [name, g] of await gradients(config)) {
          assertClose(g, cpu.get(name)!, `${tf.getBackend()} ${name}`, { atol: 1e-4, rtol: 1e-3 });
        }
      }
    },
  });
}
