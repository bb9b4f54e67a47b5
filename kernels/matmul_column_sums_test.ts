/**
 * The matmul variant that also returns the column sums of op(B) (a linear
 * layer's weight and bias gradients from one dispatch) against tfjs's CPU
 * backend: every tile, every transpose variant, odd sizes (partial tiles and
 * k-slices), batches, and K larger than one staged slice.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { MATMUL_TILES } from "./matmul_program.ts";
import { runNovalabMatMulWithColumnSums } from "./matmul.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
const TOL = { atol: 1e-5, rtol: 1e-4 };

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed), shape);
}

Deno.test({
  name: "kernels/matmul: the column-sums variant returns op(A)·op(B) and Σ_k op(B), any tile",
  ...opts,
  async fn() {
    const cases = [[1, 1, 1, 1], [3, 5, 7, 1], [17, 33, 65, 2], [8, 40, 16, 1], [70, 9, 130, 1]];
    for (const [m, k, n, batch] of cases) {
      for (const [tA, tB] of [[true, false], [false, false], [false, true], [true, true]]) {
        const lead = batch === 1 ? [] : [batch!];
        const aShape = [...lead, ...(tA ? [k!, m!] : [m!, k!])];
        const bShape = [...lead, ...(tB ? [n!, k!] : [k!, n!])];
        const expected = await valuesOn("cpu", () => {
          const b = tensor(bShape, 2);
          const opB = tB
            ? tf.transpose(b, [...lead.map((_, i) => i), lead.length + 1, lead.length])
            : b;
          return [tf.matMul(tensor(aShape, 1), b, tA, tB), tf.sum(opB, -2)];
        });
        const counter = await useNovalabWebGpu();
        for (const tile of MATMUL_TILES) {
          const what = `${m}×${k}×${n} batch ${batch} tA=${tA} tB=${tB} ${tile.name}`;
          counter.reset();
          const actual = await valuesOn("webgpu", () => {
            const a = tensor(aShape, 1), b = tensor(bShape, 2);
            const out = runNovalabMatMulWithColumnSums(tf.backend() as WebGPUBackend, a, b, {
              transposeA: tA!,
              transposeB: tB!,
              tile,
            });
            assert.ok(out, `${what}: covered`);
            return out.map((info) => tf.engine().makeTensorFromTensorInfo(info));
          });
          assert.equal(
            counter.read().byProgram["NovalabMatMulProgram"],
            1,
            `${what}: one dispatch`,
          );
          assert.deepEqual(actual.map((x) => x.length), expected.map((x) => x.length));
          actual.forEach((x, i) => assertClose(x, expected[i]!, `${what} output ${i}`, TOL));
        }
      }
    }
  },
});

Deno.test({
  name: "kernels/matmul: the column-sums variant declines f16 staging (the caller sums apart)",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const [a, b] = [tf.ones([2, 3]), tf.ones([3, 4])];
    const out = runNovalabMatMulWithColumnSums(tf.backend() as WebGPUBackend, a, b, {
      transposeA: false,
      transposeB: false,
      f16: true,
    });
    assert.equal(out, null);
    tf.dispose([a, b]);
  },
});
