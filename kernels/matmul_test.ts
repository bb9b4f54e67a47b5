/**
 * novalab's WebGPU matmul (`BatchMatMul`, `_FusedMatMul`) against tfjs's CPU
 * backend: every transpose variant, odd sizes, batch broadcasting, every tile,
 * every epilogue, and gradients. Runs on any WebGPU adapter, including Mesa's
 * llvmpipe fallback in CI; skipped only where no adapter exists.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { MATMUL_TILES } from "./matmul_program.ts";
import { runNovalabMatMul } from "./matmul.ts";
import { planMatMul } from "./matmul_plan.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/matmul_test.ts skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** fp32: K ≤ 65 products of O(1) values, different summation order than the CPU. */
const TOL = { atol: 1e-5, rtol: 1e-4 };
const VARIANTS = [[false, false], [false, true], [true, false], [true, true]] as const;

/** Operand shapes of `op(a)·op(b)` = `[.., m, n]` with depth `k`. */
function shapes(m: number, k: number, n: number, tA: boolean, tB: boolean) {
  return { a: tA ? [k, m] : [m, k], b: tB ? [n, k] : [k, n] };
}

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed), shape);
}

async function compare(what: string, f: () => tf.Tensor | tf.Tensor[]): Promise<number> {
  const expected = await valuesOn("cpu", f);
  const counter = await useNovalabWebGpu();
  const actual = await valuesOn("webgpu", f);
  const ours = counter.read().byProgram["NovalabMatMulProgram"] ?? 0;
  actual.forEach((a, i) => assertClose(a, expected[i]!, `${what} output ${i}`, TOL));
  return ours;
}

Deno.test({
  name: "kernels/matmul: every transpose variant at 1×1×1, 3×5×7 and 17×33×65 matches the CPU",
  ...opts,
  async fn() {
    for (const [m, k, n, batch] of [[1, 1, 1, 1], [3, 5, 7, 2], [17, 33, 65, 2], [8, 12, 16, 3]]) {
      for (const [tA, tB] of VARIANTS) {
        const s = shapes(m!, k!, n!, tA, tB);
        const lead = batch === 1 ? [] : [batch!];
        const ours = await compare(
          `${m}×${k}×${n} batch ${batch} tA=${tA} tB=${tB}`,
          () => tf.matMul(tensor([...lead, ...s.a], 1), tensor([...lead, ...s.b], 2), tA, tB),
        );
        assert.equal(ours, 1, "novalab's kernel ran (not the stock fallback)");
      }
    }
  },
});

Deno.test({
  name: "kernels/matmul: batch dimensions broadcast like NumPy",
  ...opts,
  async fn() {
    const cases: [number[], number[]][] = [
      [[2, 3, 5, 7], [3, 7, 4]], // b's batch is a suffix of a's
      [[5, 7], [4, 7, 6]], // rank-2 a against a batch of b
      [[2, 1, 5, 7], [1, 3, 7, 6]], // both sides broadcast (tfjs's own kernels cannot)
      [[3, 1, 5, 7], [3, 2, 7, 6]],
    ];
    for (const [sa, sb] of cases) {
      const outer = planMatMul(sa, sb, false, false)!.outShape.slice(0, -2);
      const ours = await compare(`[${sa}]·[${sb}]`, () => {
        const a = tensor(sa, 3), b = tensor(sb, 4);
        if (tf.getBackend() === "cpu") {
          // Reference: materialise the broadcast, then a plain batched product.
          return tf.matMul(
            tf.broadcastTo(a, [...outer, ...sa.slice(-2)]),
            tf.broadcastTo(b, [...outer, ...sb.slice(-2)]),
          );
        }
        return tf.matMul(a, b);
      });
      assert.equal(ours, 1, `[${sa}]·[${sb}]: novalab's kernel ran`);
    }
  },
});

Deno.test({
  name: "kernels/matmul: every tile shape is correct across tile edges",
  ...opts,
  async fn() {
    for (const [i, tile] of MATMUL_TILES.entries()) {
      {
        const [tA, tB] = [i % 2 === 0, i > 0]; // plain and transposed staging across the tiles
        const [m, k, n] = [130, 20, 67];
        const s = shapes(m, k, n, tA, tB);
        const expected = await valuesOn(
          "cpu",
          () => tf.matMul(tensor(s.a, 5), tensor(s.b, 6), tA, tB),
        );
        await useNovalabWebGpu();
        const actual = await valuesOn("webgpu", () => {
          const a = tensor(s.a, 5), b = tensor(s.b, 6);
          const info = runNovalabMatMul(tf.backend() as WebGPUBackend, a, b, {
            transposeA: tA,
            transposeB: tB,
            tile,
          });
          assert.ok(info, "the kernel covers this call");
          return tf.engine().makeTensorFromTensorInfo(info);
        });
        assertClose(actual[0]!, expected[0]!, `tile ${tile.name} tA=${tA} tB=${tB}`, TOL);
      }
    }
  },
});

Deno.test({
  name: "kernels/matmul: fused bias + activation epilogues match tf.fused.matMul on the CPU",
  ...opts,
  async fn() {
    const activations = ["linear", "relu", "relu6", "elu", "sigmoid", "leakyrelu"] as const;
    for (const [i, activation] of activations.entries()) {
      {
        const n = i % 2 ? 6 : 8; // both store paths (vec4 and scalar), each compiled once
        const ours = await compare(`${activation} n=${n}`, () =>
          tf.fused.matMul({
            a: tf.mul(tensor([2, 5, 9], 7), 4),
            b: tensor([2, 9, n], 8),
            bias: tensor([n], 9),
            activation,
            leakyreluAlpha: 0.1,
          }));
        assert.equal(ours, 1, `${activation}: novalab's kernel ran`);
      }
    }
    // PReLU is outside the kernel: the stock kernel answers, still correctly.
    const ours = await compare("prelu (stock fallback)", () =>
      tf.fused.matMul({
        a: tensor([4, 5], 10),
        b: tensor([5, 3], 11),
        activation: "prelu",
        preluActivationWeights: tensor([3], 12),
      }));
    assert.equal(ours, 0);
  },
});

Deno.test({
  name: "kernels/matmul: gradients (plain and fused with bias + relu) match the CPU",
  ...opts,
  async fn() {
    for (const [tA, tB] of VARIANTS) {
      const s = shapes(3, 5, 7, tA, tB);
      await compare(`grad tA=${tA} tB=${tB}`, () => {
        const w = tensor([2, 3, 7], 13);
        return tf.grads((a: tf.Tensor, b: tf.Tensor) => tf.sum(tf.mul(tf.matMul(a, b, tA, tB), w)))(
          [tensor([2, ...s.a], 14), tensor([2, ...s.b], 15)],
        );
      });
      if (tA !== tB) continue; // the fused epilogue's gradient: plain and doubly transposed suffice
      await compare(`fused grad tA=${tA} tB=${tB}`, () => {
        const w = tensor([3, 7], 16);
        return tf.grads((a: tf.Tensor, b: tf.Tensor, c: tf.Tensor) =>
          tf.sum(tf.mul(
            tf.fused.matMul({ a, b, bias: c, activation: "relu", transposeA: tA, transposeB: tB }),
            w,
          ))
        )([tensor(s.a, 17), tensor(s.b, 18), tensor([7], 19)]);
      });
    }
  },
});
