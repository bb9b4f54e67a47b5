/**
 * The same tiny training step on the WebGPU fallback adapter (Mesa llvmpipe,
 * present on CPU-only machines) and on WASM gives the same losses and
 * parameters within float32 tolerance. Skipped, with a message, where no
 * WebGPU adapter exists at all.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { compileGraph } from "../core/graph.ts";
import { MemorySource, testRegistries } from "../core/testing.ts";
import { Trainer } from "../core/trainer.ts";
import { requestWebGpuAdapter } from "../core/webgpu_device.ts";

/** Relative tolerance: different summation orders in float32 over 3 Adam steps. */
const TOLERANCE = 1e-3;

const source = new MemorySource({ size: 32, shape: [8, 8, 1], classes: 4 });

async function trainOn(
  backend: "wasm" | "webgpu",
): Promise<{ losses: number[]; params: Float32Array[] }> {
  await initBackend(backend);
  const graph = await compileGraph({
    nodes: [
      {
        name: "image",
        kind: "vit",
        inputs: ["batch.image"],
        phase: "all",
        params: { preset: "tiny", patch: 4, dim: 16, depth: 1, heads: 2 },
      },
      {
        name: "pred",
        kind: "mlp",
        inputs: ["image"],
        phase: "all",
        params: { layers: [8], activation: "gelu", norm: "none", bias: true },
      },
      { name: "text", kind: "caption_code", inputs: ["batch.caption"], phase: "all", params: {} },
    ],
    losses: [{
      name: "mse",
      kind: "prediction",
      inputs: { pred: "pred", target: "text" },
      weight: 1,
      params: {},
    }],
  }, {
    registries: testRegistries(),
    seed: 5,
    cacheDir: "/tmp",
    sampleBatch: (n) =>
      source.batch("train", 0, { batchSize: n, seed: 0, shuffle: false, dropLast: false }),
  });
  const trainer = new Trainer(graph, source, {
    seed: 5,
    config: {
      steps: 3,
      batch: 8,
      accumulate: 1,
      clip_grad_norm: 1,
      log_every: 1,
      checkpoint_every: 0,
      // eps 1e-4, not 1e-8: the key part of qkv.bias has an exactly-zero true gradient
      // (softmax ignores a per-query constant), and with eps 1e-8 Adam turns the two
      // backends' different float32 rounding noise into full-lr steps of random sign.
      optimizer: { kind: "adamw", lr: 1e-2, weight_decay: 0.05, betas: [0.9, 0.999], eps: 1e-4 },
      schedule: { kind: "constant", warmup: 0, min_lr_ratio: 0 },
    },
  });
  const losses = [];
  for (let s = 0; s < 3; s++) losses.push((await trainer.step(s)).loss);
  const params = await Promise.all(
    graph.parameters().map(async (p) => (await p.variable.data()) as Float32Array),
  );
  graph.dispose();
  return { losses, params };
}

async function hasAdapter(): Promise<boolean> {
  return Boolean(await requestWebGpuAdapter());
}

Deno.test({
  name: "backends: a training step on the WebGPU fallback adapter matches WASM",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn(t) {
    if (!await hasAdapter()) {
      console.warn("no WebGPU adapter on this machine (install Mesa: libgl1-mesa-dri); skipped");
      return;
    }
    const wasm = await trainOn("wasm");
    const gpu = await trainOn("webgpu");
    await t.step("losses agree", () => {
      wasm.losses.forEach((l, i) => {
        const rel = Math.abs(l - gpu.losses[i]!) / Math.abs(l);
        assert.ok(rel < TOLERANCE, `step ${i}: wasm ${l} vs webgpu ${gpu.losses[i]} (rel ${rel})`);
      });
    });
    await t.step("parameters agree after 3 AdamW steps", () => {
      let worst = 0;
      wasm.params.forEach((p, i) =>
        p.forEach((v, j) => {
          worst = Math.max(worst, Math.abs(v - gpu.params[i]![j]!) / (Math.abs(v) + 1e-2));
        })
      );
      assert.ok(worst < TOLERANCE, `worst relative parameter difference ${worst}`);
    });
    await tf.setBackend("cpu");
  },
});
