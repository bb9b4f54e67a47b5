/**
 * The fused WebGPU self-attention (forward and QKV gradient) against the op
 * composition on tfjs's CPU backend, at odd sequence lengths (partial row
 * tiles, partial key tiles and partial 4-key steps), several head widths and
 * head counts, and large logits (softmax stability), in the compact form
 * software adapters get and the tiled, unrolled form GPUs get. Runs on any
 * adapter, including Mesa's lavapipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fusedWebGpuAttentionActive, selfAttention, selfAttentionComposite } from "./attention.ts";
import { attentionTile } from "./attention_programs.ts";
import { ATTENTION_COMPACT_ENV, ATTENTION_SPLIT_KV_ENV } from "./attention_kernels.ts";
import { restoreStockKernels } from "./install.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";
import { requestWebGpuAdapter } from "../core/webgpu_device.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/attention_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const TOL = { atol: 2e-5, rtol: 2e-4 };

async function vulkanClassAdapter(): Promise<boolean> {
  return skip === null && Boolean((await requestWebGpuAdapter())?.features.has("shader-f16"));
}

interface Case {
  n: number;
  t: number;
  heads: number;
  dh: number;
  /** Multiplier of the inputs (8 gives logits in the tens). */
  scale?: number;
  /** Key padding: sample `s` keeps its first `t − pad·(s + 1)` keys (at least one). */
  pad?: number;
}

const CASES: Case[] = [
  { n: 1, t: 1, heads: 1, dh: 4 },
  { n: 2, t: 5, heads: 2, dh: 8 },
  { n: 2, t: 33, heads: 4, dh: 12 },
  { n: 3, t: 67, heads: 3, dh: 16 },
  { n: 1, t: 130, heads: 1, dh: 16, scale: 8 },
  { n: 2, t: 50, heads: 3, dh: 64 },
  { n: 3, t: 21, heads: 2, dh: 8, pad: 6 },
  { n: 2, t: 70, heads: 1, dh: 16, pad: 30 },
];

/**
 * The tiled, unrolled form GPUs run, forced on whatever adapter the test has
 * (llvmpipe compiles it slowly for wide heads, so narrow ones): several key
 * tiles with a partial last tile and partial 4-row steps.
 */
const TILED_CASES: Case[] = [
  { n: 2, t: 130, heads: 2, dh: 4, scale: 4 },
  { n: 1, t: 67, heads: 3, dh: 8 },
  { n: 2, t: 70, heads: 2, dh: 4, pad: 20 },
  // ViT's head width in the form GPUs run. Vulkan lavapipe (CI) and GPUs compile it in seconds;
  // OpenGL llvmpipe, the adapter without shader-f16, took 6 minutes, so it is left out there.
  ...(await vulkanClassAdapter() ? [{ n: 2, t: 50, heads: 3, dh: 64 }] : []),
];

/** The key-padding bias of case `c` (0 for kept keys, −1e9 for padding), or none. */
function keyBias(c: Case): tf.Tensor | undefined {
  if (!c.pad) return undefined;
  const bias = new Float32Array(c.n * c.t);
  for (let s = 0; s < c.n; s++) {
    const kept = Math.max(1, c.t - c.pad * (s + 1));
    for (let j = kept; j < c.t; j++) bias[s * c.t + j] = -1e9;
  }
  return tf.tensor(bias, [c.n, c.t]);
}

type Attend = (qkv: tf.Tensor, heads: number, keyBias?: tf.Tensor) => tf.Tensor;

/** Context and d(Σ context·w)/d(qkv), with the case's key padding when it has one. */
function forwardAndGrad(c: Case, attend: Attend) {
  return () => {
    const d = c.heads * c.dh;
    const qkv = tf.tensor(values(c.n * c.t * 3 * d, 1).map((x) => x * (c.scale ?? 1)), [
      c.n,
      c.t,
      3 * d,
    ]);
    const w = tf.tensor(values(c.n * c.t * d, 2), [c.n, c.t, d]);
    const bias = keyBias(c);
    const y = attend(qkv, c.heads, bias);
    const grad = tf.grad((a: tf.Tensor) => tf.sum(tf.mul(attend(a, c.heads, bias), w)))(qkv);
    return [y, grad];
  };
}

Deno.test("kernels/attention: workgroup tiles fit the device's workgroup memory", () => {
  assert.equal(attentionTile(64, 16384), 32);
  assert.equal(attentionTile(64, 16384, 2), 16, "dK/dV adds two floats per streamed row");
  assert.equal(attentionTile(16, 49152), 64);
  assert.equal(attentionTile(128, 16384, 2), 8);
  assert.equal(attentionTile(128, 4200, 2), 4);
  assert.throws(() => attentionTile(1024, 16384), /workgroup memory/);
});

/**
 * Runs case `c` through the composition on the CPU and the fused kernels on
 * WebGPU, asserts context and QKV gradient agree, and returns the programs run.
 */
async function compareWithComposition(c: Case, label: string): Promise<Record<string, number>> {
  const expected = await valuesOn("cpu", forwardAndGrad(c, selfAttentionComposite));
  const counter = await useNovalabWebGpu();
  const actual = await valuesOn("webgpu", forwardAndGrad(c, selfAttention));
  const what = `${label}N ${c.n} T ${c.t} H ${c.heads} d ${c.dh} pad ${c.pad ?? 0}`;
  assertClose(actual[0]!, expected[0]!, `${what}: context`, TOL);
  assertClose(actual[1]!, expected[1]!, `${what}: dqkv`, TOL);
  return counter.read().byProgram;
}

Deno.test({
  name: "kernels/attention: fused forward and QKV gradient match the composition on the CPU",
  ...opts,
  async fn() {
    for (const c of CASES) {
      await useNovalabWebGpu();
      assert.ok(fusedWebGpuAttentionActive(c.dh));
      const ran = await compareWithComposition(c, "");
      assert.equal(ran["NovalabAttentionForwardProgram"], 2, "one dispatch per forward call");
      assert.equal(ran["NovalabAttentionStatsProgram"] ?? 0, 0, "ℓ comes from the forward pass");
      assert.equal(ran["NovalabAttentionGradQueryProgram"], 1);
      assert.equal(ran["NovalabAttentionGradKeyValueProgram"], 1);
      assert.equal(ran["SoftmaxProgram"] ?? 0, 0, "no [N, H, T, T] softmax");
    }
  },
});

Deno.test({
  name: "kernels/attention: the tiled, unrolled GPU form matches the composition too",
  ...opts,
  async fn() {
    Deno.env.set(ATTENTION_COMPACT_ENV, "0");
    try {
      for (const c of TILED_CASES) {
        const ran = await compareWithComposition(c, "tiled ");
        assert.equal(ran["NovalabAttentionGradKeyValueProgram"], 1);
      }
    } finally {
      Deno.env.delete(ATTENTION_COMPACT_ENV);
    }
  },
});

Deno.test({
  name: "kernels/attention: the split dK/dV backward (NOVALAB_ATTENTION_SPLIT_KV=1) matches too",
  ...opts,
  async fn() {
    Deno.env.set(ATTENTION_SPLIT_KV_ENV, "1");
    try {
      for (
        const [c, compact] of [[CASES[5]!, "1"], [CASES[7]!, "1"], [TILED_CASES[2]!, "0"]] as const
      ) {
        Deno.env.set(ATTENTION_COMPACT_ENV, compact);
        const ran = await compareWithComposition(c, "split ");
        assert.equal(ran["NovalabAttentionGradValueProgram"], 1, "dV alone");
        assert.equal(ran["NovalabAttentionGradKeyProgram"], 1, "then dK with dQ and dV given");
        assert.equal(ran["NovalabAttentionGradKeyValueProgram"] ?? 0, 0);
      }
    } finally {
      Deno.env.delete(ATTENTION_SPLIT_KV_ENV);
      Deno.env.delete(ATTENTION_COMPACT_ENV);
    }
  },
});

Deno.test({
  name: "kernels/attention: a key bias of the wrong shape is an error naming both shapes",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    await tf.setBackend("webgpu");
    tf.tidy(() => {
      const qkv = tf.zeros([2, 5, 24]);
      assert.throws(
        () => selfAttention(qkv, 2, tf.zeros([2, 4])),
        /keyBias has shape \[2,4\]; expected \[N, T\] = \[2, 5\]/,
      );
    });
  },
});

Deno.test({
  name: "kernels/attention: head widths the fused kernels do not take, and stock kernels, compose",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const odd: Case = { n: 2, t: 7, heads: 2, dh: 6 };
    assert.ok(!fusedWebGpuAttentionActive(odd.dh));
    let actual = await valuesOn("webgpu", forwardAndGrad(odd, selfAttention));
    let expected = await valuesOn("cpu", forwardAndGrad(odd, selfAttentionComposite));
    actual.forEach((a, i) => assertClose(a, expected[i]!, `d 6 output ${i}`, TOL));
    assert.equal(counter.read().byProgram["NovalabAttentionForwardProgram"] ?? 0, 0);
    restoreStockKernels();
    try {
      const c: Case = { n: 2, t: 7, heads: 2, dh: 8 };
      assert.ok(!fusedWebGpuAttentionActive(c.dh));
      counter.reset();
      actual = await valuesOn("webgpu", forwardAndGrad(c, selfAttention));
      expected = await valuesOn("cpu", forwardAndGrad(c, selfAttentionComposite));
      actual.forEach((a, i) => assertClose(a, expected[i]!, `stock output ${i}`, TOL));
      const novalab = Object.keys(counter.read().byProgram).filter((p) => p.startsWith("Novalab"));
      assert.deepEqual(novalab, [], "no novalab program ran");
    } finally {
      await useNovalabWebGpu();
    }
  },
});
