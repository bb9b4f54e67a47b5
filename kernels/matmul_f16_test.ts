/**
 * The matmul kernel's `f16` operand staging (`precision: f16`) against a CPU
 * reference computed on operands rounded to f16: every transpose variant and
 * tile, odd sizes (scalar loads) and multiples of 4 (vec4 loads), the fused
 * epilogue, saturation, gradients, and the precision switch's errors. Runs on
 * any adapter offering `shader-f16` (CI's Mesa lavapipe does); skipped with a
 * message elsewhere.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { MATMUL_TILES } from "./matmul_program.ts";
import { runNovalabMatMul } from "./matmul.ts";
import { matMulPrecision, setMatMulPrecision } from "./precision.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";
import { requestWebGpuAdapter, SHADER_F16 } from "../core/webgpu_device.ts";
import { initBackend } from "../core/backend.ts";

const skip = await webgpuSkipReason() ??
  ((await requestWebGpuAdapter())!.features.has(SHADER_F16)
    ? null
    : "the WebGPU adapter has no shader-f16 (Mesa's Vulkan lavapipe has it: mesa-vulkan-drivers)");
if (skip) console.warn(`kernels/matmul_f16_test.ts skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** Exact products of f16 values, fp32 sums in another order than the CPU's. */
const TOL = { atol: 1e-5, rtol: 1e-4 };
const VARIANTS = [[false, false], [false, true], [true, false], [true, true]] as const;

function rounded(size: number, seed: number, scale = 1): Float32Array {
  return values(size, seed).map((v) => Math.f16round(v * scale));
}

/** `op(a)·op(b)` on the WebGPU device through the kernel with f16 staging. */
async function onGpu(
  a: { data: Float32Array; shape: number[] },
  b: { data: Float32Array; shape: number[] },
  o: { transposeA: boolean; transposeB: boolean; tile?: (typeof MATMUL_TILES)[number] },
  extra: { bias?: Float32Array; activation?: "relu" } = {},
): Promise<Float32Array> {
  await useNovalabWebGpu();
  const backend = tf.backend() as WebGPUBackend;
  const ta = tf.tensor(a.data, a.shape), tb = tf.tensor(b.data, b.shape);
  const bias = extra.bias ? tf.tensor(extra.bias) : null;
  const info = runNovalabMatMul(backend, ta, tb, {
    ...o,
    f16: true,
    bias,
    ...(extra.activation ? { activation: extra.activation } : {}),
  });
  assert.ok(info, "the kernel covers this call");
  const out = tf.engine().makeTensorFromTensorInfo(info);
  const values = await out.data() as Float32Array;
  tf.dispose([ta, tb, out, ...(bias ? [bias] : [])]);
  return values;
}

Deno.test({
  name:
    "kernels/matmul f16: every transpose variant and tile matches fp32 math on f16-rounded operands",
  ...opts,
  async fn() {
    for (const [m, k, n] of [[3, 5, 7], [17, 33, 65], [24, 40, 36]] as const) {
      for (const [tA, tB] of VARIANTS) {
        for (const tile of MATMUL_TILES) {
          const a = { data: rounded(m * k, 1), shape: tA ? [k, m] : [m, k] };
          const b = { data: rounded(k * n, 2), shape: tB ? [n, k] : [k, n] };
          const expected = await valuesOn(
            "cpu",
            () => tf.matMul(tf.tensor(a.data, a.shape), tf.tensor(b.data, b.shape), tA, tB),
          );
          const actual = await onGpu(a, b, { transposeA: tA, transposeB: tB, tile });
          assertClose(actual, expected[0]!, `${m}×${k}×${n} tA=${tA} tB=${tB} ${tile.name}`, TOL);
        }
      }
    }
  },
});

Deno.test({
  name: "kernels/matmul f16: operands are rounded to f16 (not fp32) and saturate at ±65504",
  ...opts,
  async fn() {
    const m = 4, k = 8, n = 4;
    const raw = values(m * k, 3).map((v) => v + 1 / 3), ones = new Float32Array(k * n).fill(1);
    const rowSums = (xs: ArrayLike<number>) =>
      Array.from({ length: m * n }, (_, i) => {
        let s = 0;
        for (let j = 0; j < k; j++) s += xs[Math.floor(i / n) * k + j]!;
        return s;
      });
    const actual = await onGpu({ data: raw, shape: [m, k] }, { data: ones, shape: [k, n] }, {
      transposeA: false,
      transposeB: false,
    });
    assertClose(actual, rowSums(raw.map((v) => Math.f16round(v))), "sums of f16-rounded A", TOL);
    const fp32Error = Math.max(...rowSums(raw).map((v, i) => Math.abs(v - actual[i]!)));
    assert.ok(fp32Error > 1e-4, `differs from the fp32 result (by ${fp32Error})`);

    const big = new Float32Array(m * k).fill(1e6);
    const saturated = await onGpu({ data: big, shape: [m, k] }, { data: ones, shape: [k, n] }, {
      transposeA: false,
      transposeB: false,
    });
    assertClose(saturated, new Array(m * n).fill(65504 * k), "saturated sums", TOL);
  },
});

Deno.test({
  name: "kernels/matmul f16: the bias + ReLU epilogue stays fp32 after f16 products",
  ...opts,
  async fn() {
    const m = 9, k = 20, n = 12;
    const a = { data: rounded(m * k, 4), shape: [m, k] };
    const b = { data: rounded(k * n, 5), shape: [k, n] };
    const bias = values(n, 6).map((v) => v + 1e-4); // not representable in f16: must stay fp32
    const expected = await valuesOn(
      "cpu",
      () =>
        tf.relu(tf.add(tf.matMul(tf.tensor(a.data, a.shape), tf.tensor(b.data, b.shape)), bias)),
    );
    const actual = await onGpu(a, b, { transposeA: false, transposeB: false }, {
      bias,
      activation: "relu",
    });
    assertClose(actual, expected[0]!, "relu(a·b + bias)", TOL);
  },
});

/** `op(x)·op(y)` of row-major `[r, c]` arrays in double precision, rounded to fp32. */
function product(x: ArrayLike<number>, y: ArrayLike<number>, dims: [number, number, number], t: [
  boolean,
  boolean,
]): Float32Array {
  const [m, k, n] = dims;
  const out = new Float32Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let s = 0;
      for (let p = 0; p < k; p++) {
        s += x[t[0] ? p * m + i : i * k + p]! * y[t[1] ? j * k + p : p * n + j]!;
      }
      out[i * n + j] = s;
    }
  }
  return out;
}

Deno.test({
  name: "kernels/matmul f16: precision f16 routes tf.matMul and its gradients through f16 staging",
  ...opts,
  async fn() {
    const [m, k, n] = [6, 10, 5];
    const a = values(m * k, 7).map((v) => v + 1 / 3), b = values(k * n, 8).map((v) => v + 1 / 7);
    await useNovalabWebGpu();
    setMatMulPrecision("f16", true);
    let half: Float32Array[];
    try {
      assert.equal(matMulPrecision(), "f16");
      half = await valuesOn("webgpu", () => {
        const ta = tf.tensor(a, [m, k]), tb = tf.tensor(b, [k, n]);
        const loss = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.square(tf.matMul(x, y)));
        const [ga, gb] = tf.grads(loss)([ta, tb]);
        return [tf.matMul(ta, tb), ga!, gb!];
      });
    } finally {
      setMatMulPrecision("fp32", true);
    }
    // tfjs's MatMul gradient: dA = dY·Bᵀ, dB = Aᵀ·dY, each through the kernel again.
    const h = (xs: Float32Array) => xs.map((v) => Math.f16round(v));
    const y = product(h(a), h(b), [m, k, n], [false, false]);
    const dy = h(y.map((v) => 2 * v));
    const expected = [
      y,
      product(dy, h(b), [m, n, k], [false, true]),
      product(h(a), dy, [k, m, n], [true, false]),
    ];
    ["y", "dL/da", "dL/db"].forEach((what, i) => assertClose(half[i]!, expected[i]!, what, TOL));
    const fp32 = product(a, b, [m, k, n], [false, false]);
    assert.ok(half[0]!.some((v, i) => Math.abs(v - fp32[i]!) > 1e-4), "f16 rounding shows");
  },
});

Deno.test({
  name: "kernels/precision: f16 without WebGPU is an error that names the backend and the fix",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend("cpu");
    assert.throws(
      () => setMatMulPrecision("f16", false),
      /precision: f16 needs WebGPU .*shader-f16, but the active backend is cpu; use precision: fp32/,
    );
    assert.equal(matMulPrecision(), "fp32");
    assert.throws(() => setMatMulPrecision("bf16" as "f16", false), /valid choices: fp32, f16/);
  },
});
