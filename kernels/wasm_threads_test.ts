/**
 * The WASM GEMM over helper threads (`kernels/wasm_threads.ts`) on tfjs's
 * threaded build: every cut (outer batch, inner batch, rows, columns with a
 * bias and ReLU, transposed A) writes the same bits as the generated `gemm`
 * run whole on one thread; a helper whose part traps makes the call throw;
 * `NOVALAB_WASM_THREADS` is validated, and `=1` (CI runs it) starts the
 * single-threaded build.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { values } from "./testing.ts";
import { type ProductShape, rowMajorGemmCall, takeBits } from "./testing_cases.ts";
import { wasmLinear, wasmMatMul } from "./wasm_matmul.ts";
import { wasmAttention } from "./wasm_attention.ts";
import { wasmGelu } from "./wasm_gelu.ts";
import { wasmLayerNorm } from "./wasm_layernorm.ts";
import { EPPS_PULLEY } from "./epps_pulley.ts";
import { eppsPulley } from "../losses/epps_pulley.ts";
import { profileKernels } from "../bench/kernel_profile.ts";
import { GEMM_A_COLUMNS, GEMM_BIAS, GEMM_RELU, gemmScratchFloats } from "./wasm_gemm.ts";
import { GEMM_ARGUMENTS, type GemmCall, splitGemm } from "./wasm_gemm_split.ts";
import { type WasmKernels, wasmKernels, wasmMemoryShared } from "./wasm_runtime.ts";
import { WASM_THREADS_ENV, type WasmKernelThreads, wasmThreadsRequested } from "./wasm_threads.ts";

const info = await initBackend("wasm");
const opts = { sanitizeOps: false, sanitizeResources: false };
const threaded = info.wasm!.gemmThreads > 1;

/** A laid-out product: its call (on the first C) and the buffers to free. */
interface LaidOut {
  call: GemmCall;
  cBytes: number;
  buffers: number[];
}

/** Allocates and fills A, B, the bias and two C buffers; returns the call on the first C. */
function layOut(k: WasmKernels, p: ProductShape, seed: number): LaidOut {
  const { M, N, K, G1, G2 } = p;
  const floats = { a: G1 * G2 * M * K, b: G1 * G2 * K * N, c: G1 * G2 * M * N };
  const A = k.malloc(floats.a * 4), B = k.malloc(floats.b * 4), bias = k.malloc(N * 4);
  const C = k.malloc(floats.c * 4 * 2);
  k.floats(A, floats.a).set(values(floats.a, seed));
  k.floats(B, floats.b).set(values(floats.b, seed + 1));
  k.floats(bias, N).set(values(N, seed + 2));
  const scratch = k.scratch(gemmScratchFloats(N));
  const call = rowMajorGemmCall(p, { A, B, C, bias, scratch }, 0.75);
  return { call, cBytes: floats.c * 4, buffers: [A, B, C, bias] };
}

/** `run`'s results with every thread equal, bit for bit, to its results on the caller alone. */
function assertSameOnOneThread(helpers: WasmKernelThreads, run: () => Uint32Array[]): void {
  const before = helpers.partsDone;
  const many = run();
  assert.ok(helpers.partsDone > before, "helpers computed parts");
  helpers.limit = 1;
  try {
    const one = run();
    many.forEach((bits, i) => assert.deepEqual(bits, one[i], `output ${i}: threads vs one`));
  } finally {
    helpers.limit = Infinity;
  }
}

function heapBytes(k: WasmKernels): number {
  return (k.backend.wasm as unknown as { HEAPU8: Uint8Array }).HEAPU8.length;
}

function free(k: WasmKernels, laidOut: LaidOut): void {
  for (const at of laidOut.buffers) k.free(at);
}

Deno.test({
  name: "WASM GEMM over threads: every cut writes the bits of one thread",
  ignore: !threaded,
  ...opts,
  async fn() {
    const k = wasmKernels();
    assert.ok(k.threads, "threaded build gives the kernels helper threads");
    const threads = await k.threads.whenStarted();
    assert.ok(threads >= 2, `helpers started: ${threads} threads`);
    const products: [ProductShape, string][] = [
      [{ M: 7, N: 9, K: 1300, G1: 5, G2: 3, flags: 0 }, "G1"],
      [{ M: 7, N: 9, K: 1500, G1: 1, G2: 3, flags: GEMM_A_COLUMNS }, "G2"],
      [{ M: 301, N: 37, K: 300, G1: 1, G2: 1, flags: GEMM_BIAS | GEMM_RELU }, "M"],
      [{ M: 9, N: 611, K: 517, G1: 1, G2: 1, flags: GEMM_BIAS | GEMM_RELU }, "N"],
      [{ M: 13, N: 700, K: 280, G1: 1, G2: 1, flags: GEMM_A_COLUMNS | GEMM_BIAS }, "N"],
    ];
    products.forEach(([p, along], i) => {
      const laidOut = layOut(k, p, 10 * i + 1), { call, cBytes } = laidOut;
      assert.ok(splitGemm(call, threads).length > 1, `${along}: the call is cut`);
      const before = k.threads!.partsDone;
      k.gemm(call);
      assert.equal(k.threads!.partsDone, before + threads - 1, `${along}: each helper took a part`);
      const whole = { ...call, C: call.C + cBytes };
      (k.fns.gemm as unknown as (...a: number[]) => void)(...GEMM_ARGUMENTS.map((n) => whole[n]));
      const split = new Uint32Array(k.floats(call.C, cBytes / 4).slice().buffer);
      const one = new Uint32Array(k.floats(whole.C, cBytes / 4).slice().buffer);
      assert.deepEqual(split, one, `${along} (${JSON.stringify(p)}): threads vs one thread`);
      assert.ok(one.some((bits) => bits !== 0), "the product was written");
      free(k, laidOut);
    });
  },
});

Deno.test({
  name: "WASM GEMM over threads: a helper whose part traps makes the call throw",
  ignore: !threaded,
  ...opts,
  async fn() {
    const k = wasmKernels();
    await k.threads!.whenStarted();
    const laidOut = layOut(k, { M: 7, N: 9, K: 2600, G1: 2, G2: 1, flags: 0 }, 5);
    const { call } = laidOut;
    // The second sample's A lies past the end of memory: the first part (this
    // thread) reads in bounds, the helper's part traps.
    const beyond = { ...call, sa1: heapBytes(k) / 4 };
    assert.throws(
      () => k.gemm(beyond),
      /helper thread \d+ failed on its part of a kernel: RuntimeError: memory access out of bounds; run with NOVALAB_WASM_THREADS=1/,
    );
    k.gemm(call); // the helpers still serve
    free(k, laidOut);
  },
});

Deno.test({
  name:
    "WASM GEMM over threads: linear layers and attention, values and gradients, as on one thread",
  ignore: !threaded,
  ...opts,
  async fn() {
    const helpers = wasmKernels().threads!;
    await helpers.whenStarted();
    const [n, t, d, heads] = [24, 37, 48, 4];
    const x = tf.tensor(values(n * t * d, 3), [n * t, d]);
    const wQkv = tf.tensor(values(d * 3 * d, 4).map((v) => v * 0.2), [d, 3 * d]);
    const bQkv = tf.tensor(values(3 * d, 5), [3 * d]);
    const wOut = tf.tensor(values(d * 70, 6).map((v) => v * 0.2), [70, d]);
    const f = (a: tf.Tensor, w1: tf.Tensor, b1: tf.Tensor, w2: tf.Tensor) => {
      const qkv = wasmLinear(a, w1, b1, true).reshape([n, t, 3 * d]);
      const context = wasmAttention(qkv, heads).reshape([n * t, d]);
      return tf.sum(tf.square(wasmMatMul(context, w2, { transposeB: true })));
    };
    const run = (): Uint32Array[] => {
      const { value, grads } = tf.valueAndGrads(f)([x, wQkv, bQkv, wOut]);
      return takeBits([value, ...grads]);
    };
    assertSameOnOneThread(helpers, run);
    tf.dispose([x, wQkv, bQkv, wOut]);
  },
});

Deno.test({
  name: "WASM kernels over threads: GELU and Epps–Pulley, values and gradients, as on one thread",
  ignore: !threaded,
  ...opts,
  async fn() {
    const helpers = wasmKernels().threads!;
    await helpers.whenStarted();
    // 70·1000 floats: GELU cut into element ranges; [2, 96, 70] × 16 nodes: slices cut in
    // multiples of four, the last block overlapping (70 = 17·4 + 2).
    const x = tf.tensor(values(70 * 1000, 11).map((v) => 3 * v), [1000, 70]);
    const u = tf.tensor3d(values(2 * 96 * 70, 12).map((v) => 2.5 * v), [2, 96, 70]);
    // Nine slices on two threads: [0, 8) and the block [5, 9), which overlaps the first range.
    const u9 = tf.tensor3d(values(2 * 2048 * 9, 13).map((v) => 2.5 * v), [2, 2048, 9]);
    const run = (): Uint32Array[] => {
      const gelu = tf.valueAndGrads((a: tf.Tensor) => tf.sum(tf.mul(wasmGelu(a), a)))([x]);
      const ep = tf.valueAndGrads((a: tf.Tensor) =>
        tf.sum(tf.mul(eppsPulley(a as tf.Tensor3D), tf.range(1, 141).reshape([2, 70])))
      )([u]);
      const ep9 = tf.valueAndGrads((a: tf.Tensor) => tf.sum(eppsPulley(a as tf.Tensor3D)))([u9]);
      return takeBits([
        gelu.value,
        ...gelu.grads,
        ep.value,
        ...ep.grads,
        ep9.value,
        ...ep9.grads,
      ]);
    };
    run(); // registers novalab's kernels, so the profiler sees them
    const profiler = profileKernels("wasm");
    profiler.phase("threads");
    assertSameOnOneThread(helpers, run);
    const calls = new Map(profiler.read().map((s) => [s.kernel, s.calls]));
    profiler.detach();
    assert.ok(calls.get(EPPS_PULLEY), "the fused Epps–Pulley kernel ran");
    tf.dispose([x, u, u9]);
  },
});

Deno.test({
  name: "WASM kernels over threads: LayerNorm's rows cut over threads, as on one thread",
  ignore: !threaded,
  ...opts,
  async fn() {
    const helpers = wasmKernels().threads!;
    await helpers.whenStarted();
    // 700 rows of 61: the forward pass is cut into row ranges (61 = 15·4 + 1, a scalar tail).
    const x = tf.tensor(values(700 * 61, 21).map((v) => 3 * v + 1), [700, 61]);
    const g = tf.tensor(values(61, 22), [61]), b = tf.tensor(values(61, 23), [61]);
    const w = tf.tensor(values(700 * 61, 24), [700, 61]);
    const run = (): Uint32Array[] => {
      const { value, grads } = tf.valueAndGrads((a: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) =>
        tf.sum(tf.mul(wasmLayerNorm(a, gg, bb, 1e-5), w))
      )([x, g, b]);
      const y = wasmLayerNorm(x, g, b, 1e-5);
      return takeBits([value, ...grads, y]);
    };
    assertSameOnOneThread(helpers, run);
    tf.dispose([x, g, b, w]);
  },
});

Deno.test("NOVALAB_WASM_THREADS: an integer >= 1, else a clear error", () => {
  const saved = Deno.env.get(WASM_THREADS_ENV);
  try {
    Deno.env.set(WASM_THREADS_ENV, "3");
    assert.equal(wasmThreadsRequested(), 3);
    Deno.env.set(WASM_THREADS_ENV, "0");
    assert.throws(
      () => wasmThreadsRequested(),
      /NOVALAB_WASM_THREADS='0' is not valid.*integer >= 1/,
    );
    Deno.env.set(WASM_THREADS_ENV, "two");
    assert.throws(() => wasmThreadsRequested(), /'two' is not valid/);
    Deno.env.delete(WASM_THREADS_ENV);
    assert.ok(wasmThreadsRequested() >= 1 && wasmThreadsRequested() <= 8);
  } finally {
    if (saved === undefined) Deno.env.delete(WASM_THREADS_ENV);
    else Deno.env.set(WASM_THREADS_ENV, saved);
  }
});

Deno.test({
  name:
    "NOVALAB_WASM_THREADS=1: tfjs's single-threaded build, no shared memory, kernels on one thread",
  ignore: Deno.env.get(WASM_THREADS_ENV) !== "1",
  fn() {
    assert.equal(info.wasm!.threads, false, "tfjs's threaded build was not started");
    assert.equal(info.wasm!.gemmThreads, 1);
    assert.equal(wasmMemoryShared(), false);
    const k = wasmKernels()!;
    assert.equal(k.threads, undefined, "no helper threads");
    const a = tf.randomNormal([37, 29], 0, 1, "float32", 1);
    const b = tf.randomNormal([29, 41], 0, 1, "float32", 2);
    const got = wasmMatMul(a, b);
    const want = tf.tidy(() => tf.sum(tf.mul(tf.expandDims(a, 2), tf.expandDims(b, 0)), 1));
    const diff = tf.max(tf.abs(tf.sub(got, want))).dataSync()[0]!;
    assert.ok(diff < 1e-4, `single-threaded product within 1e-4 of the elementwise sum (${diff})`);
    tf.dispose([a, b, got, want]);
  },
});
