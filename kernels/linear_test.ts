/**
 * The fused linear layer (`kernels/linear.ts`) against the CPU composition
 * `act(x·W + b)`: forward values and the gradients of x, W and b, with and
 * without bias, ReLU or none, odd sizes, trainable and frozen weights; how many
 * dispatches forward and backward take; and that nothing leaks.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fusedLinear, type LinearActivation } from "./linear.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";
import type { Tensor } from "../core/tensor.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
const TOL = { atol: 1e-5, rtol: 1e-4 };

interface Case {
  rows: number;
  inDim: number;
  outDim: number;
  bias: boolean;
  activation: LinearActivation;
  trainable: boolean;
}

const t = (shape: number[], seed: number) =>
  tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed), shape);

/** Forward value and gradients of Σ(y ⊙ r) (r fixed) w.r.t. x, W and b. */
function run(c: Case, fused: boolean): Tensor[] {
  const x = t([c.rows, c.inDim], 1), w = t([c.inDim, c.outDim], 2), b = t([c.outDim], 3);
  const r = t([c.rows, c.outDim], 4);
  const f = (xx: Tensor, ww: Tensor, bb: Tensor) => {
    let y: Tensor;
    if (fused) y = fusedLinear(xx, ww, c.bias ? bb : undefined, c.activation, c.trainable);
    else {
      y = tf.matMul(xx, ww);
      if (c.bias) y = tf.add(y, bb);
      if (c.activation === "relu") y = tf.relu(y);
    }
    return y;
  };
  const y = f(x, w, b);
  if (!c.bias) {
    const [dx, dw] = tf.grads((xx: Tensor, ww: Tensor) => tf.sum(tf.mul(f(xx, ww, b), r)))([x, w]);
    return [y, dx!, dw!];
  }
  const grads = tf.grads((xx: Tensor, ww: Tensor, bb: Tensor) => tf.sum(tf.mul(f(xx, ww, bb), r)));
  const [dx, dw, db] = grads([x, w, b]);
  return [y, dx!, dw!, db!];
}

async function valuesOf(ts: Tensor[]): Promise<Float32Array[]> {
  const out = await Promise.all(ts.map(async (x) => (await x.data()) as Float32Array));
  tf.dispose(ts);
  return out;
}

Deno.test({
  name: "kernels/linear: forward and x, W, b gradients match the CPU composition",
  ...opts,
  async fn() {
    const shapes = [[1, 1, 1], [5, 3, 7], [33, 17, 65], [20, 192, 768]];
    for (const [rows, inDim, outDim] of shapes) {
      for (const bias of [true, false]) {
        for (const activation of ["linear", "relu"] as const) {
          for (const trainable of [true, false]) {
            const c = { rows: rows!, inDim: inDim!, outDim: outDim!, bias, activation, trainable };
            await tf.setBackend("cpu");
            const expected = await valuesOf(run(c, false));
            await useNovalabWebGpu();
            const actual = await valuesOf(run(c, true));
            const what = JSON.stringify(c);
            assert.equal(actual.length, expected.length);
            actual.forEach((a, i) => assertClose(a, expected[i]!, `${what} output ${i}`, TOL));
          }
        }
      }
    }
  },
});

Deno.test({
  name: "kernels/linear: one dispatch forward; ReLU + dX + (dW, db) backward; no leaks",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const x = t([20, 16], 1), r = t([20, 24], 4);
    const w = tf.variable(t([16, 24], 2)), b = tf.variable(t([24], 3));
    counter.reset();
    tf.tidy(() => fusedLinear(x, w, b, "relu", true));
    assert.deepEqual(counter.read().byProgram, { NovalabMatMulProgram: 1 });
    const before = tf.memory().numTensors;
    const loss = (xx: Tensor) => tf.sum(tf.mul(fusedLinear(xx, w, b, "relu", true), r));
    for (const withX of [true, false]) {
      counter.reset();
      const { value, grads } = withX
        ? (() => {
          const g = tf.valueAndGrads((xx: Tensor) => loss(xx));
          const out = g([x]);
          return { value: out.value, grads: out.grads };
        })()
        : tf.variableGrads(() => loss(x) as tf.Scalar, [w, b]);
      const byProgram = counter.read().byProgram;
      tf.dispose([value, ...Object.values(grads)]);
      if (withX) {
        // Forward matmul, ReLU gradient, dX, and (dW, db) computed for the trained weights.
        assert.equal(byProgram["NovalabActivationGradProgram"], 1);
        assert.equal(byProgram["NovalabMatMulProgram"], 3);
      } else {
        // x is a constant: no dX.
        assert.equal(byProgram["NovalabMatMulProgram"], 2, JSON.stringify(byProgram));
        // The loss's own sum is the only reduction: the bias gradient comes with dW.
        assert.equal(byProgram["ReduceProgram"], 1, JSON.stringify(byProgram));
      }
      assert.equal(
        tf.memory().numTensors,
        before,
        `no tensors leak (x needs a gradient: ${withX})`,
      );
    }
    tf.dispose([x, r, w, b]);
  },
});
