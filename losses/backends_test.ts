/**
 * Every loss entry (CLIP, SIGReg, prediction and the issue-4 methods and
 * structure terms) gives the same values and gradients on the WebGPU
 * fallback adapter (Mesa llvmpipe on CPU-only machines; novalab's fused
 * kernels there), on WASM and on the CPU backend, read with `await data()`
 * only — CLIP, SigLIP and contrastive4 also with multi-positive `groups`. Skipped, with a
 * message, where no WebGPU adapter exists.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import type { ForwardContext } from "../core/types.ts";
import { methodLossEntries } from "./entries_methods.ts";
import { structureLossEntries } from "./entries_structures.ts";
import { lossEntries } from "./entries.ts";
import { prototypeUsage } from "./nclip.ts";
import { requestWebGpuAdapter } from "../core/webgpu_device.ts";

const ctx: ForwardContext = { training: true, step: 0, seed: 1 };
const entries = [...lossEntries, ...methodLossEntries, ...structureLossEntries];
const B = 6, D = 5;

/** Deterministic pseudo-random values (no backend RNG, identical everywhere). */
function values(n: number, seed: number): Float32Array {
  let s = seed >>> 0;
  return Float32Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 31 - 1;
  });
}

const ROLES: Record<string, string[]> = {
  clip: ["image", "text", "logit_scale"],
  sigreg: ["x"],
  prediction: ["pred", "target"],
  siglip: ["image", "text", "logit_scale", "logit_bias"],
  invariance: ["x"],
  nclip: ["image", "text"],
  ito_fusion: ["fused", "logit_scale"],
  ntxent: ["views", "logit_scale"],
  self_distillation: ["student", "teacher"],
  contrastive4: ["image", "text", "logit_scale"],
  feature_separation: ["image", "text", "image_ind", "text_ind", "logit_scale"],
  brownian_bridge: ["image", "text"],
  geometric_consistency: ["image", "text"],
  cyclip: ["image", "text"],
};

const SHAPES: Record<string, number[]> = {
  image: [2, B, D],
  x: [2, B, D],
  pred: [2, B, D],
  target: [B, D],
  fused: [2, B, D],
  views: [2, B, D],
  image_ind: [2, B, D],
  text: [B, D],
  text_ind: [B, D],
  logit_scale: [],
  logit_bias: [],
  student: [3, B, D],
  teacher: [2, B, D],
};

/** Value and flattened gradients of every entry on the current backend. */
async function run(): Promise<Record<string, number[]>> {
  const out: Record<string, number[]> = {};
  // CLIP, SigLIP and contrastive4 again with UniCL's multi-positive targets (an unknown id).
  const grouped = entries.filter((e) => ["clip", "siglip", "contrastive4"].includes(e.kind))
    .map((e) => ({ ...e, kind: `${e.kind}+groups` }));
  for (const e of [...entries, ...grouped]) {
    const term = e.create(e.schema.parse({}));
    const roles = ROLES[e.kind.replace("+groups", "")]!;
    const groups: Record<string, tf.Tensor> = e.kind.endsWith("+groups")
      ? { groups: tf.tensor1d([0, 1, 0, -1, 1, 2], "int32") }
      : {};
    const xs = roles.map((r, i) => {
      const shape = SHAPES[r]!;
      const n = shape.reduce((a, b) => a * b, 1);
      return r === "logit_bias"
        ? tf.scalar(-2)
        : r === "logit_scale"
        ? tf.scalar(1)
        : tf.tensor(values(n, 7 + i), shape);
    });
    const f = (...ts: tf.Tensor[]) =>
      term.fn({ ...Object.fromEntries(roles.map((r, i) => [r, ts[i]!])), ...groups }, ctx);
    const { value, grads } = tf.valueAndGrads(f)(xs);
    const numbers = [...await value.data()];
    for (const g of grads) numbers.push(...await g.data());
    out[e.kind] = numbers;
    tf.dispose([value, ...grads, ...xs, ...Object.values(groups)]);
  }
  const logits = tf.tensor(values(4 * 16, 3), [4, 16]);
  out["prototypeUsage"] = [
    await prototypeUsage(logits),
    await prototypeUsage(logits, { measure: "perplexity" }),
  ];
  logits.dispose();
  return out;
}

async function hasAdapter(): Promise<boolean> {
  return Boolean(await requestWebGpuAdapter());
}

function compare(a: Record<string, number[]>, b: Record<string, number[]>, what: string): void {
  for (const [kind, xs] of Object.entries(a)) {
    const ys = b[kind]!;
    assert.equal(xs.length, ys.length);
    xs.forEach((x, i) => {
      const rel = Math.abs(x - ys[i]!) / (Math.abs(x) + 1e-3);
      assert.ok(rel < 1e-3, `${kind}[${i}] ${what}: ${x} vs ${ys[i]} (rel ${rel})`);
    });
  }
}

Deno.test({
  name: "backends: every loss entry's values and gradients agree on cpu, wasm and webgpu",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    await tf.setBackend("cpu");
    const cpu = await run();
    await initBackend("wasm");
    compare(cpu, await run(), "cpu vs wasm");
    if (await hasAdapter()) {
      await initBackend("webgpu");
      compare(cpu, await run(), "cpu vs webgpu");
    } else {
      console.warn("no WebGPU adapter on this machine (install Mesa: libgl1-mesa-dri); skipped");
    }
    await tf.setBackend("cpu");
  },
});
