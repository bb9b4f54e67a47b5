/**
 * Every form of the large matmul tile (`kernels/matmul_tile_form.ts`:
 * interleaved thread layout, register prefetch, 16-deep k slices) against
 * tfjs's CPU backend: every transpose variant at odd sizes (scalar loads,
 * partial tiles and k slices) and multiples of 4 (vec4 loads), K over several
 * staged slices, batches, the bias + ReLU + residual epilogue, the
 * column-sums variant, split-K and f16 staging — so the form a GPU
 * measurement picks is already known to be correct. Also the switch's
 * validation.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { runNovalabMatMul, runNovalabMatMulWithColumnSums } from "./matmul.ts";
import type { MatMulTile } from "./matmul_program.ts";
import {
  activeMatMulTiles,
  MATMUL_TILE_FORMS,
  matMulTileForm,
  setMatMulTileForm,
} from "./matmul_tile_form.ts";
import { hasShaderF16 } from "../core/webgpu_device.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/matmul_tile_form_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
const TOL = { atol: 1e-4, rtol: 1e-4 };
const FORMS = MATMUL_TILE_FORMS.slice(1);

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed), shape);
}

/**
 * `[m, k, n, batch]`: odd (scalar loads, partial tiles and k slices, a batch)
 * and multiples of 4 (vec4 loads, many k slices). Each form × variant compiles
 * its own shader, which is what costs time on the fallback adapter.
 */
const SIZES = [[130, 37, 133, 2], [128, 300, 132, 1]];

interface Case {
  m: number;
  k: number;
  n: number;
  batch: number;
  tA: boolean;
  tB: boolean;
}

function cases(): Case[] {
  const out: Case[] = [];
  for (const [m, k, n, batch] of SIZES) {
    for (const [tA, tB] of [[false, false], [false, true], [true, false], [true, true]]) {
      out.push({ m: m!, k: k!, n: n!, batch: batch!, tA: tA!, tB: tB! });
    }
  }
  return out;
}

function operands(c: Case): [tf.Tensor, tf.Tensor] {
  const lead = c.batch === 1 ? [] : [c.batch];
  return [
    tensor([...lead, ...(c.tA ? [c.k, c.m] : [c.m, c.k])], 1),
    tensor([...lead, ...(c.tB ? [c.n, c.k] : [c.k, c.n])], 2),
  ];
}

/** Runs `f` on WebGPU with tile `tile` and returns the output values. */
async function onGpu(
  f: (backend: WebGPUBackend) => tf.TensorInfo[] | null,
): Promise<Float32Array[]> {
  return await valuesOn("webgpu", () => {
    const out = f(tf.backend() as WebGPUBackend);
    assert.ok(out, "covered by novalab's kernel");
    return out.map((info) => tf.engine().makeTensorFromTensorInfo(info));
  });
}

Deno.test({
  name:
    "kernels/matmul tile forms: plain products and the bias + ReLU + residual epilogue, every transpose variant",
  ...opts,
  async fn() {
    for (const c of cases()) {
      const expected = await valuesOn("cpu", () => {
        const [a, b] = operands(c);
        const product = tf.matMul(a, b, c.tA, c.tB);
        const bias = tensor([c.n], 3), residual = tensor(product.shape, 4);
        return [product, tf.add(tf.relu(tf.add(product, bias)), residual)];
      });
      await useNovalabWebGpu();
      for (const tile of FORMS) {
        const what = `${c.m}×${c.k}×${c.n} batch ${c.batch} tA=${c.tA} tB=${c.tB} ${tile.name}`;
        const actual = await onGpu((backend) => {
          const [a, b] = operands(c);
          const o = { transposeA: c.tA, transposeB: c.tB, tile, splits: 1 };
          const plain = runNovalabMatMul(backend, a, b, o);
          const bias = tensor([c.n], 3), residual = tensor(plain!.shape, 4);
          const fused = runNovalabMatMul(backend, a, b, {
            ...o,
            bias,
            residual,
            activation: "relu",
          });
          return plain && fused ? [plain, fused] : null;
        });
        assertClose(actual[0]!, expected[0]!, `${what} product`, TOL);
        assertClose(actual[1]!, expected[1]!, `${what} epilogue`, TOL);
      }
    }
  },
});

Deno.test({
  name: "kernels/matmul tile forms: column sums, split-K and f16 staging",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const f16 = hasShaderF16(tf.backend() as WebGPUBackend);
    for (const c of cases()) {
      const expected = await valuesOn("cpu", () => {
        const [a, b] = operands(c);
        const lead = c.batch === 1 ? [] : [0];
        const opB = c.tB ? tf.transpose(b, [...lead, lead.length + 1, lead.length]) : b;
        return [tf.matMul(a, b, c.tA, c.tB), tf.sum(opB, -2)];
      });
      await useNovalabWebGpu();
      for (const tile of FORMS) {
        const what = `${c.m}×${c.k}×${c.n} batch ${c.batch} tA=${c.tA} tB=${c.tB} ${tile.name}`;
        const o = { transposeA: c.tA, transposeB: c.tB, tile };
        const sums = await onGpu((backend) => {
          const [a, b] = operands(c);
          return runNovalabMatMulWithColumnSums(backend, a, b, { ...o, splits: 1 });
        });
        assertClose(sums[0]!, expected[0]!, `${what} column-sums product`, TOL);
        assertClose(sums[1]!, expected[1]!, `${what} column sums`, TOL);
        const split = await onGpu((backend) => {
          const [a, b] = operands(c);
          const out = runNovalabMatMul(backend, a, b, { ...o, splits: 2 });
          return out ? [out] : null;
        });
        assertClose(split[0]!, expected[0]!, `${what} split-K`, TOL);
        if (!f16) continue;
        const half = await onGpu((backend) => {
          const [a, b] = operands(c);
          const out = runNovalabMatMul(backend, a, b, { ...o, splits: 1, f16: true });
          return out ? [out] : null;
        });
        // Operands in [-1, 1) rounded to f16 (relative 2⁻¹¹): the products stay within 1e-2.
        assertClose(half[0]!, expected[0]!, `${what} f16`, { atol: 1e-2, rtol: 1e-2 });
      }
    }
  },
});

Deno.test("kernels/matmul tile forms: NOVALAB_MATMUL_TILE picks the large tile, and a wrong name lists the valid ones", () => {
  const names = MATMUL_TILE_FORMS.map((t: MatMulTile) => t.name);
  assert.equal(names[0], "t128", "the default form comes first");
  assert.equal(new Set(names).size, names.length, "names (shader keys) are unique");
  for (const form of MATMUL_TILE_FORMS) {
    assert.equal(form.wgX * form.tn, 128);
    assert.equal(form.wgY * form.tm, 128);
  }
  assert.equal(activeMatMulTiles()[0]!.name, Deno.env.get("NOVALAB_MATMUL_TILE") || "t128");
  setMatMulTileForm("t128ip");
  try {
    assert.equal(activeMatMulTiles()[0]!.name, "t128ip");
    assert.deepEqual(activeMatMulTiles().slice(1).map((t) => t.name), ["t64", "t32"]);
  } finally {
    setMatMulTileForm(undefined);
  }
  assert.throws(
    () => matMulTileForm("t256"),
    /NOVALAB_MATMUL_TILE='t256' is not a tile form; valid: t128, t128i, t128p, t128ip, t128ipk16, t128id/,
  );
});
