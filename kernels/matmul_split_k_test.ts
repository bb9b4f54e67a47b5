/**
 * Split-K matmuls (`kernels/matmul_plan.ts`, `kernels/matmul_split_k.ts`)
 * against tfjs's CPU backend: forced slice counts with every tile and
 * transpose variant, odd sizes (the last slice shorter, partial tiles),
 * batches, the full epilogue (bias, activation, residual) applied after the
 * sum, and the column-sums variant (a linear layer's dW and bias gradient);
 * and the choice itself — which shapes get cut and into how many slices.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { MATMUL_TILES } from "./matmul_program.ts";
import { runNovalabMatMul, runNovalabMatMulWithColumnSums } from "./matmul.ts";
import {
  chooseTile,
  chooseTiling,
  MIN_SPLIT_DEPTH,
  MIN_WORKGROUPS,
  planMatMul,
  SPLIT_K_ENV,
  splitKOverride,
} from "./matmul_plan.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
/** K up to ~1,100 products of O(1) values, summed in another order than the CPU. */
const TOL = { atol: 1e-4, rtol: 1e-4 };

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed), shape);
}

Deno.test("kernels/matmul_plan: deep products with small outputs are cut along k", () => {
  // ViT-Ti/16 at batch 64: 12,608 tokens. dW = Xᵀ·dY of the attention projection.
  const dw = planMatMul([12608, 192], [12608, 192], true, false)!;
  const t = chooseTiling(dw);
  assert.ok(t.splits >= 8, `split into ${t.splits}`);
  assert.equal(t.kChunk % t.tile.bk, 0, "slices are whole staged k-slices");
  assert.ok(t.kChunk * (t.splits - 1) < 12608 && t.kChunk * t.splits >= 12608, "k covered");
  const groups = Math.ceil(192 / (t.tile.wgY * t.tile.tm)) *
    Math.ceil(192 / (t.tile.wgX * t.tile.tn));
  assert.ok(groups * t.splits >= MIN_WORKGROUPS, `${groups} × ${t.splits} workgroups`);
  // Without splitting the same product is a few dozen workgroups of the smallest tile.
  assert.equal(chooseTile(dw).name, "t32");
  // The forward products (K = 192) and anything with k below two slices stay whole.
  for (
    const [a, b] of [[[12608, 192], [192, 576]], [[64, 2 * MIN_SPLIT_DEPTH - 1], [
      2 * MIN_SPLIT_DEPTH - 1,
      8,
    ]]]
  ) {
    assert.equal(chooseTiling(planMatMul(a!, b!, false, false)!).splits, 1, `${a}·${b}`);
  }
  // Large outputs are never cut, whatever k.
  assert.equal(chooseTiling(planMatMul([4096, 4096], [4096, 4096], false, false)!).splits, 1);
});

Deno.test("kernels/matmul_plan: NOVALAB_MATMUL_SPLIT_K turns splitting off, forces a count, or names the problem", () => {
  const dw = planMatMul([12608, 192], [12608, 192], true, false)!;
  const old = Deno.env.get(SPLIT_K_ENV);
  try {
    Deno.env.set(SPLIT_K_ENV, "0");
    assert.equal(chooseTiling(dw).splits, 1);
    Deno.env.set(SPLIT_K_ENV, "4");
    assert.equal(chooseTiling(dw).splits, 4);
    Deno.env.set(SPLIT_K_ENV, "four");
    assert.throws(() => splitKOverride(), /NOVALAB_MATMUL_SPLIT_K='four' is not a whole number/);
  } finally {
    if (old === undefined) Deno.env.delete(SPLIT_K_ENV);
    else Deno.env.set(SPLIT_K_ENV, old);
  }
});

Deno.test({
  name: "kernels/matmul: split-K products equal the CPU's, every tile and transpose, with epilogue",
  ...opts,
  async fn() {
    const cases = [[3, 1030, 7, 1, 2], [17, 777, 64, 2, 3], [33, 1100, 130, 1, 4]];
    for (const [m, k, n, batch, splits] of cases) {
      for (
        const [tA, tB, epilogue] of [[true, false, false], [false, true, true], [true, true, true]]
      ) {
        const lead = batch === 1 ? [] : [batch!];
        const aShape = [...lead, ...(tA ? [k!, m!] : [m!, k!])];
        const bShape = [...lead, ...(tB ? [n!, k!] : [k!, n!])];
        const outShape = [...lead, m!, n!];
        const expected = await valuesOn("cpu", () => {
          const y = tf.matMul(tensor(aShape, 1), tensor(bShape, 2), tA, tB);
          if (!epilogue) return [y];
          return [tf.add(tf.relu(tf.add(y, tensor([n!], 3))), tensor(outShape, 4))];
        });
        const counter = await useNovalabWebGpu();
        for (const tile of MATMUL_TILES) {
          const what = `${m}×${k}×${n} batch ${batch} / ${splits} tA=${tA} tB=${tB} ` +
            `epilogue=${epilogue} ${tile.name}`;
          counter.reset();
          const actual = await valuesOn("webgpu", () => {
            const out = runNovalabMatMul(
              tf.backend() as WebGPUBackend,
              tensor(aShape, 1),
              tensor(bShape, 2),
              {
                transposeA: tA!,
                transposeB: tB!,
                tile,
                splits: splits!,
                ...(epilogue
                  ? { bias: tensor([n!], 3), activation: "relu", residual: tensor(outShape, 4) }
                  : {}),
              },
            );
            assert.ok(out, `${what}: covered`);
            return [tf.engine().makeTensorFromTensorInfo(out)];
          });
          assert.deepEqual(
            counter.read().byProgram,
            { NovalabMatMulProgram: 1, NovalabSplitKReduceProgram: 1 },
            `${what}: partial products and one reduction`,
          );
          assertClose(actual[0]!, expected[0]!, what, TOL);
        }
      }
    }
  },
});

Deno.test({
  name: "kernels/matmul: split-K column sums give a linear layer's dW and bias gradient",
  ...opts,
  async fn() {
    for (const [rows, inDim, outDim, splits] of [[1029, 5, 7, 3], [600, 48, 64, 2]]) {
      const expected = await valuesOn("cpu", () => {
        const dy = tensor([rows!, outDim!], 2);
        return [tf.matMul(tensor([rows!, inDim!], 1), dy, true, false), tf.sum(dy, 0)];
      });
      const counter = await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", () => {
        const out = runNovalabMatMulWithColumnSums(
          tf.backend() as WebGPUBackend,
          tensor([rows!, inDim!], 1),
          tensor([rows!, outDim!], 2),
          { transposeA: true, transposeB: false, splits: splits! },
        );
        assert.ok(out);
        return out.map((info) => tf.engine().makeTensorFromTensorInfo(info));
      });
      assert.deepEqual(counter.read().byProgram, {
        NovalabMatMulProgram: 1,
        NovalabSplitKReduceProgram: 1,
      });
      ["dW", "db"].forEach((name, i) =>
        assertClose(actual[i]!, expected[i]!, `${rows}×${inDim}→${outDim} ${name}`, TOL)
      );
    }
  },
});

Deno.test({
  name: "kernels/matmul: split-K releases its partial products",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const backend = tf.backend() as WebGPUBackend;
    const a = tensor([1024, 8], 1), b = tensor([1024, 8], 2);
    const before = backend.numDataIds();
    const out = runNovalabMatMul(backend, a, b, { transposeA: true, transposeB: false, splits: 4 });
    assert.ok(out);
    assert.equal(backend.numDataIds(), before + 1, "only the output is alive");
    backend.disposeData(out.dataId);
    tf.dispose([a, b]);
  },
});
