/**
 * novalab's `Sum`/`Mean` over leading or middle axes (`kernels/column_sum.ts`)
 * against tfjs's CPU backend: odd sizes, negative axes, keepDims, reductions
 * long enough to need a second pass, the gradient of a broadcast add, and the
 * reductions that must stay on tfjs's stock kernel. Runs on any adapter,
 * including Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { columnSumChunk, columnSumView } from "./column_sum.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/column_sum_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

Deno.test("kernels/column_sum: the [outer, rows, cols] view and when the stock kernel keeps a reduction", () => {
  assert.deepEqual(columnSumView([4, 5, 6], [0]), { outer: 1, rows: 4, cols: 30 });
  assert.deepEqual(columnSumView([4, 5, 6], [1, 0]), { outer: 1, rows: 20, cols: 6 });
  assert.deepEqual(columnSumView([4, 5, 6], [1]), { outer: 4, rows: 5, cols: 6 });
  assert.equal(columnSumView([4, 5, 6], [2]), null, "innermost: stock reduce has no transpose");
  assert.equal(columnSumView([4, 5, 6], [0, 1, 2]), null, "all axes");
  assert.equal(columnSumView([4, 5, 6], [0, 2]), null, "not contiguous");
  assert.equal(columnSumView([4, 5, 1], [0, 1]), null, "only size-1 axes after the block");
  assert.equal(columnSumView([0, 5], [0]), null, "empty");
  assert.equal(columnSumChunk(1, 64, 37824), 64, "wide columns: one pass");
  assert.equal(columnSumChunk(1, 12608, 192), 256, "narrow columns, many rows: chunks");
  assert.equal(columnSumChunk(1, 500, 3), 500, "a few hundred rows: one pass");
});

interface Case {
  shape: number[];
  axis: number | number[];
  keepDims?: boolean;
  /** Column-sum dispatches expected per reduction (0: the stock kernel runs). */
  passes: number;
}

const CASES: Case[] = [
  { shape: [5, 7], axis: 0, passes: 1 },
  { shape: [3, 33, 5], axis: [0, 1], passes: 1 },
  { shape: [3, 33, 5], axis: [-3, -2], keepDims: true, passes: 1 },
  { shape: [2, 300, 3], axis: 1, passes: 1 },
  { shape: [4, 3, 5, 2], axis: [1, 2], keepDims: true, passes: 1 },
  { shape: [3000, 3], axis: 0, passes: 2 },
  { shape: [1, 17, 64], axis: 0, passes: 1 },
  { shape: [7, 9], axis: 1, passes: 0 },
  { shape: [7, 9], axis: [0, 1], passes: 0 },
  { shape: [3, 4, 5], axis: [0, 2], passes: 0 },
];

Deno.test({
  name: "kernels/column_sum: Sum and Mean over leading and middle axes match the CPU backend",
  ...opts,
  async fn() {
    for (const c of CASES) {
      const size = c.shape.reduce((p, d) => p * d, 1);
      const run = () => {
        const x = tf.tensor(values(size, 31), c.shape);
        return [tf.sum(x, c.axis, c.keepDims), tf.mean(x, c.axis, c.keepDims)];
      };
      const shapeOf = () => {
        const x = tf.zeros(c.shape);
        return tf.sum(x, c.axis, c.keepDims).shape;
      };
      const expected = await valuesOn("cpu", run);
      const expectedShape = tf.tidy(shapeOf);
      const counter = await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", run);
      const what = `[${c.shape}] axis ${c.axis}${c.keepDims ? " keepDims" : ""}`;
      assertClose(actual[0]!, expected[0]!, `${what} sum`, { atol: 1e-5, rtol: 1e-5 });
      assertClose(actual[1]!, expected[1]!, `${what} mean`, { atol: 1e-6, rtol: 1e-5 });
      const ran = counter.read().byProgram;
      assert.deepEqual(tf.tidy(shapeOf), expectedShape, `${what} shape`);
      assert.equal(ran["NovalabColumnSumProgram"] ?? 0, 2 * c.passes, `${what} column-sum passes`);
      if (c.passes > 0) {
        assert.equal(ran["TransposeProgram"] ?? 0, 0, `${what}: no transposed copy`);
      }
    }
  },
});

Deno.test({
  name:
    "kernels/column_sum: the gradient of a broadcast add (position embedding) sums over the batch in place",
  ...opts,
  async fn() {
    const grads = () => {
      const x = tf.tensor3d(values(6 * 17 * 64, 41), [6, 17, 64]);
      const pos = tf.tensor2d(values(17 * 64, 42), [17, 64]);
      const w = tf.tensor3d(values(6 * 17 * 64, 43), [6, 17, 64]);
      return tf.grads((a: tf.Tensor, p: tf.Tensor) => tf.sum(tf.mul(tf.add(a, p), w)))([x, pos]);
    };
    const expected = await valuesOn("cpu", grads);
    const counter = await useNovalabWebGpu();
    const actual = await valuesOn("webgpu", grads);
    assertClose(actual[1]!, expected[1]!, "d position", { atol: 1e-5, rtol: 1e-5 });
    assertClose(actual[0]!, expected[0]!, "d x", { atol: 1e-6, rtol: 1e-6 });
    const ran = counter.read().byProgram;
    assert.equal(ran["NovalabColumnSumProgram"], 1);
    assert.equal(ran["TransposeProgram"] ?? 0, 0);
  },
});

Deno.test({
  name: "kernels/column_sum: int32 sums stay on the stock kernel and keep their dtype",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const x = tf.tensor2d([1, 2, 3, 4, 5, 6], [3, 2], "int32");
    const s = tf.sum(x, 0);
    assert.equal(s.dtype, "int32");
    assert.deepEqual(Array.from(await s.data()), [9, 12]);
    tf.dispose([x, s]);
  },
});
