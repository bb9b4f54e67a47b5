/**
 * The GELU linear layer (`kernels/linear_gelu.ts`) and the matmul's GELU
 * epilogue against the CPU composition `0.5·z·(1 + erf(z/√2))`, `z = x·W + b`:
 * forward values and the gradients of x, W, b (and a residual), odd sizes,
 * frozen weights; dispatches forward (1) and backward; no leaks.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { geluLinear } from "./linear_gelu.ts";
import { runNovalabMatMul } from "./matmul.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";
import type { Tensor } from "../core/tensor.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
const TOL = { atol: 2e-5, rtol: 1e-4 };

const t = (shape: number[], seed: number, scale = 1) =>
  tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed).map((v) => v * scale), shape);

const geluComposite = (z: Tensor) =>
  tf.mul(tf.mul(z, 0.5), tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1));

/** y and the gradients of Σ y·r w.r.t. x, W, b and the residual. */
function run(rows: number, inDim: number, outDim: number, fused: boolean, trainable = true) {
  return () => {
    // Pre-activations spread over ±4, where erf bends.
    const x = t([rows, inDim], 1, 2), w = t([inDim, outDim], 2, 4 / Math.sqrt(inDim));
    const b = t([outDim], 3), res = t([rows, outDim], 4), r = t([rows, outDim], 5);
    const f = (xx: Tensor, ww: Tensor, bb: Tensor, rr: Tensor) =>
      fused
        ? geluLinear(xx, ww, bb, trainable, rr)
        : tf.add(geluComposite(tf.add(tf.matMul(xx, ww), bb)), rr);
    const grads = tf.grads((...a: Tensor[]) => tf.sum(tf.mul(f(a[0]!, a[1]!, a[2]!, a[3]!), r)));
    return [f(x, w, b, res), ...grads([x, w, b, res])];
  };
}

Deno.test({
  name: "kernels/linear_gelu: forward and x, W, b, residual gradients match the CPU composition",
  ...opts,
  async fn() {
    for (const [rows, inDim, outDim] of [[1, 1, 1], [5, 3, 7], [33, 17, 65], [40, 64, 256]]) {
      for (const trainable of [true, false]) {
        const expected = await valuesOn("cpu", run(rows!, inDim!, outDim!, false));
        await useNovalabWebGpu();
        const actual = await valuesOn("webgpu", run(rows!, inDim!, outDim!, true, trainable));
        ["y", "dx", "dW", "db", "dresidual"].forEach((name, i) =>
          assertClose(actual[i]!, expected[i]!, `[${rows}, ${inDim}, ${outDim}] ${name}`, TOL)
        );
      }
    }
  },
});

Deno.test({
  name: "kernels/matmul: the GELU epilogue matches the composition, vec4 and scalar stores",
  ...opts,
  async fn() {
    for (const n of [8, 7]) {
      const expected = await valuesOn(
        "cpu",
        () => geluComposite(tf.matMul(t([9, 5], 1, 3), t([5, n], 2))),
      );
      await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", () => {
        const out = runNovalabMatMul(tf.backend() as WebGPUBackend, t([9, 5], 1, 3), t([5, n], 2), {
          transposeA: false,
          transposeB: false,
          activation: "gelu",
        });
        assert.ok(out);
        return tf.engine().makeTensorFromTensorInfo(out);
      });
      assertClose(actual[0]!, expected[0]!, `n = ${n}`, TOL);
    }
  },
});

Deno.test({
  name:
    "kernels/linear_gelu: one dispatch forward, GELU gradient + dX + (dW, db) backward, no leaks",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const x = t([20, 16], 1), r = t([20, 24], 4);
    const w = tf.variable(t([16, 24], 2)), b = tf.variable(t([24], 3));
    counter.reset();
    const before = tf.memory().numTensors;
    const y = geluLinear(x, w, b, true);
    assert.deepEqual(counter.read().byProgram, { NovalabMatMulProgram: 1 });
    assert.equal(tf.memory().numTensors, before + 1, "only y: no pre-activation kept");
    y.dispose();
    counter.reset();
    const { value, grads } = tf.valueAndGrads((xx: Tensor) =>
      tf.sum(tf.mul(geluLinear(xx, w, b, true), r))
    )([x]);
    const ran = counter.read().byProgram;
    tf.dispose([value, ...grads]);
    assert.equal(ran["NovalabActivationGradProgram"], 1);
    assert.equal(ran["NovalabMatMulProgram"], 3, "forward, dX, and dW with db");
    assert.equal(tf.memory().numTensors, before, "no tensors leak");
    tf.dispose([x, r, w, b]);
  },
});
