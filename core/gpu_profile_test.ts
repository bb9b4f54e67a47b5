/**
 * The GPU profiler times every dispatch from timestamp queries without
 * changing results: per phase and program, with FLOPs for matmuls, across
 * more dispatches than one query set holds, and leaves the backend as it was.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { profileGpuDispatches } from "./gpu_profile.ts";
import { formatGpuProfile, gpuProfileTotals } from "../bench/gpu_profile_format.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";
import { NovalabAttentionForwardProgram } from "../kernels/attention_forward_program.ts";
import {
  NovalabAttentionGradKeyProgram,
  NovalabAttentionGradKeyValueProgram,
  NovalabAttentionGradQueryProgram,
  NovalabAttentionGradValueProgram,
} from "../kernels/attention_grad_programs.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`core/gpu_profile_test.ts skipped: ${skip}`);

const webgpuTest = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, ignore: skip !== null, sanitizeOps: false, sanitizeResources: false, fn });

webgpuTest(
  "core/gpu_profile: times each dispatch by phase and program, results unchanged",
  async () => {
    await useNovalabWebGpu();
    const backend = tf.backend() as WebGPUBackend;
    const before = ["recordAndSubmit", "submitQueue"].map((k) =>
      Object.getOwnPropertyDescriptor(backend, k)
    );
    const a = tf.randomNormal([256, 256], 0, 1, "float32", 1);
    const plain = tf.add(tf.matMul(a, a), 1);
    const expected = await plain.data();

    const profiler = profileGpuDispatches(backend);
    profiler.phase("warm");
    tf.dispose(tf.add(a, 2));
    profiler.reset();
    profiler.phase("product");
    const product = tf.matMul(a, a);
    const t0 = performance.now();
    await product.data();
    const productWallMs = performance.now() - t0;
    profiler.phase("sum");
    const sum = tf.add(product, 1);
    const got = await sum.data();
    const stats = await profiler.read();
    profiler.detach();

    assert.deepEqual(got, expected, "profiling changes no value");
    const byKey = new Map(stats.map((s) => [`${s.phase}/${s.kernel}`, s]));
    assert.deepEqual([...byKey.keys()].sort(), [
      "product/NovalabMatMulProgram",
      "sum/BinaryOpProgram",
    ]);
    const mm = byKey.get("product/NovalabMatMulProgram")!;
    assert.equal(mm.calls, 1);
    assert.equal(mm.flops, 2 * 256 ** 3);
    assert.equal(mm.bytes, 4 * 3 * 256 ** 2, "A, B and the product");
    assert.ok(mm.hostMs > 0, "recording takes host time");
    // Timestamps are nanoseconds: the product's GPU time lies inside the wall time that waited for it.
    assert.ok(mm.gpuMs > 0 && mm.gpuMs <= productWallMs, `${mm.gpuMs} ms of ${productWallMs} ms`);
    const add = byKey.get("sum/BinaryOpProgram")!;
    assert.ok(add.gpuMs < mm.gpuMs, "256 additions per row cost less than the 256³ product");
    assert.equal(stats[0], mm, "most GPU time first");
    assert.deepEqual(
      ["recordAndSubmit", "submitQueue"].map((k) => Object.getOwnPropertyDescriptor(backend, k)),
      before,
    );
    tf.dispose([a, plain, product, sum]);
  },
);

webgpuTest(
  "core/gpu_profile: more dispatches than one query set holds, keyed by shapes",
  async () => {
    await useNovalabWebGpu();
    const profiler = profileGpuDispatches(tf.backend() as WebGPUBackend, { shapes: true });
    profiler.phase("chain");
    let x = tf.zeros([40, 30]); // ≥ 1000 entries: stays on the GPU
    const n = 2100; // 4,200 timestamps: two query sets
    for (let i = 0; i < n; i++) {
      const next = tf.add(x, 1);
      x.dispose();
      x = next;
    }
    const values = await x.data();
    assert.ok(values.every((v) => v === n));
    const stats = await profiler.read();
    // A second read after more work resolves only the new dispatches.
    tf.dispose(tf.add(x, 1));
    const again = await profiler.read();
    profiler.detach();
    assert.equal(stats.length, 1);
    assert.equal(stats[0]!.kernel, "BinaryOpProgram [40,30] ← [40,30]·[]");
    assert.equal(stats[0]!.calls, n);
    assert.ok(stats[0]!.gpuMs > 0);
    assert.equal(again[0]!.calls, n + 1);
    assert.equal(gpuProfileTotals(again, 1).dispatches, n + 1);
    x.dispose();
  },
);

Deno.test("core/gpu_profile: a device without timestamp-query is refused with the fix", () => {
  const standIn = {
    recordAndSubmit() {},
    submitQueue() {},
    endComputePassEncoder() {},
    device: { features: new Set<string>() },
  } as unknown as WebGPUBackend;
  assert.throws(
    () => profileGpuDispatches(standIn),
    /no 'timestamp-query'.*run without --profile/s,
  );
});

Deno.test("bench/gpu_profile_format: totals, phases, shares, TFLOP/s and GB/s per kernel", () => {
  const stats = [
    {
      kernel: "NovalabMatMulProgram",
      phase: "forward",
      calls: 4,
      gpuMs: 8,
      hostMs: 0.04,
      flops: 8e10,
      bytes: 4e9,
    },
    {
      kernel: "BinaryOpProgram",
      phase: "backward",
      calls: 2,
      gpuMs: 2,
      hostMs: 0.02,
      flops: 0,
      bytes: 0,
    },
  ];
  const text = formatGpuProfile(stats, 2, 9, 1);
  assert.match(
    text,
    /GPU busy 5\.00 ms in 3 dispatches, host recording 0\.03 ms \(10\.0 µs\/dispatch\)/,
  );
  assert.match(text, /forward\s+GPU\s+4\.00 ms\s+host\s+0\.02 ms\s+2 dispatches/);
  // 8e10 FLOPs in 8 ms = 10 TFLOP/s, 4e9 bytes 500 GB/s; 4 ms per step is 80 % of 5 ms.
  assert.match(
    text,
    /4\.000\s+80\.0%\s+2\s+2000\.0\s+10\.0\s+10\.00\s+500\.00\s+forward\s+NovalabMatMulProgram/,
  );
  assert.match(text, /1\.000\s+20\.0%\s+1 in 1 more rows/);
});

Deno.test("core/gpu_profile: attention programs state their products' FLOPs, recomputation included", () => {
  const g = { n: 2, t: 197, heads: 3, dh: 64, tile: 16, compact: false, keyBias: false };
  const unit = 2 * g.n * g.heads * g.t * g.t * g.dh; // one [T,T]·[T,dh] product per head
  assert.equal(new NovalabAttentionForwardProgram(g).flops, 2 * unit); // QKᵀ, PV
  assert.equal(new NovalabAttentionGradQueryProgram(g).flops, 3 * unit); // QKᵀ, dO·Vᵀ, dS·K
  assert.equal(new NovalabAttentionGradKeyValueProgram(g).flops, 4 * unit); // + Pᵀ·dO, dSᵀ·Q
  assert.equal(new NovalabAttentionGradValueProgram(g).flops, 2 * unit);
  assert.equal(new NovalabAttentionGradKeyProgram(g).flops, 3 * unit);
});
