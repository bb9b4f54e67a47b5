/**
 * The matmul epilogue's residual add (a transformer block's skip connection,
 * `act(op(A)·op(B) + bias) + R`) against tfjs's CPU backend: every tile, every
 * transpose variant, vec4 and scalar stores (N a multiple of 4 or not), with
 * and without bias and activation, batches; and the calls it refuses.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { MATMUL_TILES } from "./matmul_program.ts";
import { runNovalabMatMul } from "./matmul.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
const TOL = { atol: 1e-5, rtol: 1e-4 };

function tensor(shape: number[], seed: number): tf.Tensor {
  return tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed), shape);
}

Deno.test({
  name: "kernels/matmul: the residual epilogue returns act(op(A)·op(B) + bias) + R, any tile",
  ...opts,
  async fn() {
    const cases = [[1, 1, 1, 1], [3, 5, 7, 1], [17, 33, 64, 2], [70, 9, 130, 1]];
    for (const [m, k, n, batch] of cases) {
      for (const [tA, tB, bias, relu] of [[false, false, true, false], [true, true, false, true]]) {
        const lead = batch === 1 ? [] : [batch!];
        const aShape = [...lead, ...(tA ? [k!, m!] : [m!, k!])];
        const bShape = [...lead, ...(tB ? [n!, k!] : [k!, n!])];
        const outShape = [...lead, m!, n!];
        const expected = await valuesOn("cpu", () => {
          let y = tf.matMul(tensor(aShape, 1), tensor(bShape, 2), tA, tB);
          if (bias) y = tf.add(y, tensor([n!], 3));
          if (relu) y = tf.relu(y);
          return [tf.add(y, tensor(outShape, 4))];
        });
        const counter = await useNovalabWebGpu();
        for (const tile of MATMUL_TILES) {
          const what = `${m}×${k}×${n} batch ${batch} tA=${tA} tB=${tB} bias=${bias} ` +
            `relu=${relu} ${tile.name}`;
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
                bias: bias ? tensor([n!], 3) : null,
                activation: relu ? "relu" : "linear",
                residual: tensor(outShape, 4),
              },
            );
            assert.ok(out, `${what}: covered`);
            return [tf.engine().makeTensorFromTensorInfo(out)];
          });
          assert.deepEqual(counter.read().byProgram, { NovalabMatMulProgram: 1 }, what);
          assertClose(actual[0]!, expected[0]!, what, TOL);
        }
      }
    }
  },
});

Deno.test({
  name: "kernels/matmul: a residual of another size or dtype is left to the caller (null)",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const backend = tf.backend() as WebGPUBackend;
    const a = tf.ones([4, 3]), b = tf.ones([3, 5]);
    const wrongSize = tf.ones([4, 4]), wrongType = tf.ones([4, 5], "int32");
    for (const residual of [wrongSize, wrongType]) {
      assert.equal(
        runNovalabMatMul(backend, a, b, { transposeA: false, transposeB: false, residual }),
        null,
      );
    }
    tf.dispose([a, b, wrongSize, wrongType]);
  },
});
