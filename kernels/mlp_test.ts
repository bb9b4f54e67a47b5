/**
 * The fused MLP (`kernels/mlp.ts`) against the CPU composition
 * `act(x·W1 + b1)·W2 + b2 + r` for ReLU and GELU: forward values and the
 * gradients of x, both weights and biases and the residual, at odd sizes
 * (scalar stores and gate loads), frozen weights, no biases; the backward
 * pass's dispatches (four matmuls, no separate activation gradient); no leaks.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fusedMlp, type MlpActivation } from "./mlp.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";
import type { Tensor } from "../core/tensor.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
const TOL = { atol: 3e-5, rtol: 1e-4 };

const t = (shape: number[], seed: number, scale = 1) =>
  tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed).map((v) => v * scale), shape);

const act = (a: MlpActivation, z: Tensor) =>
  a === "relu" ? tf.relu(z) : tf.mul(tf.mul(z, 0.5), tf.add(tf.erf(tf.mul(z, Math.SQRT1_2)), 1));

interface Case {
  rows: number;
  inDim: number;
  hidden: number;
  outDim: number;
  activation: MlpActivation;
  biases: boolean;
  trainable: boolean;
}

/** y and the gradients of Σ y·r w.r.t. x, W1, b1, W2, b2 and the residual. */
function run(c: Case, fused: boolean) {
  return () => {
    const x = t([c.rows, c.inDim], 1, 2), w1 = t([c.inDim, c.hidden], 2, 3 / Math.sqrt(c.inDim));
    const b1 = t([c.hidden], 3), w2 = t([c.hidden, c.outDim], 4), b2 = t([c.outDim], 5);
    const res = t([c.rows, c.outDim], 6), r = t([c.rows, c.outDim], 7);
    const f = (xx: Tensor, ww1: Tensor, bb1: Tensor, ww2: Tensor, bb2: Tensor, rr: Tensor) => {
      if (fused) {
        const layers = c.biases
          ? { w1: ww1, b1: bb1, w2: ww2, b2: bb2, trainable: c.trainable }
          : { w1: ww1, w2: ww2, trainable: c.trainable };
        return fusedMlp(xx, layers, c.activation, rr);
      }
      let h = tf.matMul(xx, ww1);
      if (c.biases) h = tf.add(h, bb1);
      let y = tf.matMul(act(c.activation, h), ww2);
      if (c.biases) y = tf.add(y, bb2);
      return tf.add(y, rr);
    };
    const grads = c.biases
      ? tf.grads((...a: Tensor[]) =>
        tf.sum(tf.mul(f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!, a[5]!), r))
      )(
        [x, w1, b1, w2, b2, res],
      )
      : tf.grads((...a: Tensor[]) => tf.sum(tf.mul(f(a[0]!, a[1]!, b1, a[2]!, b2, a[3]!), r)))(
        [x, w1, w2, res],
      );
    return [f(x, w1, b1, w2, b2, res), ...grads];
  };
}

Deno.test({
  name: "kernels/mlp: forward and every gradient match the CPU composition (ReLU, GELU)",
  ...opts,
  async fn() {
    const shapes = [[1, 1, 1, 1], [5, 3, 7, 6], [33, 16, 64, 16], [40, 24, 96, 20]];
    for (const [rows, inDim, hidden, outDim] of shapes) {
      for (const activation of ["relu", "gelu"] as const) {
        for (const [biases, trainable] of [[true, true], [false, true], [true, false]]) {
          const c = {
            rows: rows!,
            inDim: inDim!,
            hidden: hidden!,
            outDim: outDim!,
            activation,
            biases: biases!,
            trainable: trainable!,
          };
          const expected = await valuesOn("cpu", run(c, false));
          await useNovalabWebGpu();
          const actual = await valuesOn("webgpu", run(c, true));
          const names = biases
            ? ["y", "dx", "dW1", "db1", "dW2", "db2", "dresidual"]
            : ["y", "dx", "dW1", "dW2", "dresidual"];
          names.forEach((name, i) =>
            assertClose(actual[i]!, expected[i]!, `${JSON.stringify(c)} ${name}`, TOL)
          );
        }
      }
    }
  },
});

Deno.test({
  name: "kernels/mlp: two dispatches forward, four backward (no activation pass), no leaks",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const x = t([20, 16], 1), r = t([20, 16], 2), res = t([20, 16], 3);
    const w1 = tf.variable(t([16, 64], 4)), b1 = tf.variable(t([64], 5));
    const w2 = tf.variable(t([64, 16], 6)), b2 = tf.variable(t([16], 7));
    const layers = { w1, b1, w2, b2, trainable: true };
    for (const activation of ["relu", "gelu"] as const) {
      const before = tf.memory().numTensors;
      counter.reset();
      const y = fusedMlp(x, layers, activation, res);
      assert.deepEqual(counter.read().byProgram, { NovalabMatMulProgram: 2 }, activation);
      assert.equal(tf.memory().numTensors, before + 1, `${activation}: only y is kept`);
      y.dispose();
      counter.reset();
      const { value, grads } = tf.variableGrads(
        () => tf.sum(tf.mul(fusedMlp(x, layers, activation, res), r)) as tf.Scalar,
        [w1, b1, w2, b2],
      );
      const ran = counter.read().byProgram;
      tf.dispose([value, ...Object.values(grads)]);
      // Forward 2; backward dW2+db2, dH with the activation gradient, dW1+db1 (x is a constant).
      assert.equal(ran["NovalabMatMulProgram"], 5, `${activation}: ${JSON.stringify(ran)}`);
      assert.equal(ran["NovalabActivationGradProgram"] ?? 0, 0);
      assert.equal(tf.memory().numTensors, before, `${activation}: no tensors leak`);
    }
    tf.dispose([x, r, res, w1, b1, w2, b2]);
  },
});
