/**
 * A pre-LN residual branch `x + f(LN(x))` on novalab's WebGPU kernels against
 * the CPU composition: the linear layer's residual epilogue (`kernels/linear.ts`,
 * gradient of the residual is dY) and the LayerNorm that hands x on as its skip
 * output (`kernels/layernorm.ts` `layerNormWithSkip`, skip gradient summed in
 * the dx dispatch). Values and every gradient, odd sizes; that the branch
 * needs no add dispatch forward or backward; no leaks.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { fusedLinear } from "./linear.ts";
import { layerNorm, layerNormComposite, layerNormWithSkip } from "./layernorm.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";
import type { Tensor } from "../core/tensor.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };
const TOL = { atol: 2e-5, rtol: 1e-4 };
const EPS = 1e-6;

const t = (shape: number[], seed: number, scale = 1) =>
  tf.tensor(values(shape.reduce((p, d) => p * d, 1), seed).map((v) => v * scale), shape);

/** `y = LN(x)·W + b + x` and the gradients of Σ y·r w.r.t. x, γ, β, W, b. */
function branch(rows: number, dim: number, fused: boolean): () => Tensor[] {
  return () => {
    const x = t([rows, dim], 1, 2), gamma = t([dim], 2), beta = t([dim], 3);
    const w = t([dim, dim], 4), b = t([dim], 5), r = t([rows, dim], 6);
    const f = (xx: Tensor, g: Tensor, be: Tensor, ww: Tensor, bb: Tensor) => {
      if (fused) {
        const [normed, skipped] = layerNormWithSkip(xx, g, be, EPS);
        return fusedLinear(normed, ww, bb, "linear", true, skipped);
      }
      return tf.add(tf.add(tf.matMul(layerNormComposite(xx, g, be, EPS), ww), bb), xx);
    };
    const grads = tf.grads((...a: Tensor[]) =>
      tf.sum(tf.mul(f(a[0]!, a[1]!, a[2]!, a[3]!, a[4]!), r))
    );
    return [f(x, gamma, beta, w, b), ...grads([x, gamma, beta, w, b])];
  };
}

Deno.test({
  name: "kernels/skip connection: LN with skip + linear with residual match the composition",
  ...opts,
  async fn() {
    for (const [rows, dim] of [[1, 1], [3, 5], [34, 64], [70, 33], [40, 192]]) {
      const expected = await valuesOn("cpu", branch(rows!, dim!, false));
      await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", branch(rows!, dim!, true));
      ["y", "dx", "dγ", "dβ", "dW", "db"].forEach((name, i) =>
        assertClose(actual[i]!, expected[i]!, `[${rows}, ${dim}] ${name}`, TOL)
      );
    }
  },
});

Deno.test({
  name: "kernels/skip connection: the residual's own gradient is dY, the skip's is summed into dx",
  ...opts,
  async fn() {
    // Σ (LN-branch)·r1 + Σ skip²·r2: the skip output gets a gradient unlike LN's.
    const run = (fused: boolean) => () => {
      const x = t([9, 7], 1, 2), gamma = t([7], 2), beta = t([7], 3);
      const r1 = t([9, 7], 4), r2 = t([9, 7], 5), res = t([9, 5], 6);
      const w = t([7, 5], 7);
      const f = (xx: Tensor, rr: Tensor) => {
        const [normed, skipped] = fused
          ? layerNormWithSkip(xx, gamma, beta, EPS)
          : [layerNormComposite(xx, gamma, beta, EPS), xx];
        const y = fused
          ? fusedLinear(normed, w, undefined, "linear", true, rr)
          : tf.add(tf.matMul(normed, w), rr);
        return tf.add(
          tf.sum(tf.mul(tf.square(skipped), r2)),
          tf.add(tf.sum(tf.mul(normed, r1)), tf.sum(tf.mul(y, y))),
        );
      };
      return tf.grads(f)([x, res]);
    };
    const expected = await valuesOn("cpu", run(false));
    await useNovalabWebGpu();
    const actual = await valuesOn("webgpu", run(true));
    ["dx", "dresidual"].forEach((name, i) => assertClose(actual[i]!, expected[i]!, name, TOL));
  },
});

Deno.test({
  name: "kernels/skip connection: no add dispatch forward or backward, nothing leaks",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const x = t([20, 16], 1), r = t([20, 16], 2);
    const gamma = tf.variable(t([16], 3)), beta = tf.variable(t([16], 4));
    const w = tf.variable(t([16, 16], 5)), b = tf.variable(t([16], 6));
    const binaryOps = (withSkip: boolean) => {
      const branch = (xx: Tensor) => {
        if (!withSkip) {
          return tf.add(fusedLinear(layerNorm(xx, gamma, beta, EPS), w, b, "linear", true), xx);
        }
        const [normed, skipped] = layerNormWithSkip(xx, gamma, beta, EPS);
        return fusedLinear(normed, w, b, "linear", true, skipped);
      };
      const before = tf.memory().numTensors;
      counter.reset();
      const { value, grads } = tf.valueAndGrads((xx: Tensor) => tf.sum(tf.mul(branch(xx), r)))([x]);
      const ran = counter.read().byProgram;
      tf.dispose([value, ...grads]);
      assert.equal(tf.memory().numTensors, before, `no leaks (skip ${withSkip})`);
      return ran["BinaryOpProgram"] ?? 0;
    };
    const plain = binaryOps(false), fused = binaryOps(true);
    assert.equal(plain - fused, 2, `the forward add and the gradient accumulation are gone`);
    tf.dispose([x, r, gamma, beta, w, b]);
  },
});

Deno.test({
  name: "kernels/skip connection: a residual with ReLU or of the wrong shape is refused by name",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const x = tf.ones([4, 3]), w = tf.ones([3, 5]);
    for (const [activation, shape] of [["relu", [4, 5]], ["linear", [4, 4]]] as const) {
      const residual = tf.ones([...shape]);
      assert.throws(
        () => fusedLinear(x, w, undefined, activation, true, residual),
        /kernels\/linear\.ts: NovalabLinear residual \[4,[45]\] needs activation linear and shape \[4,5\]/,
      );
      residual.dispose();
    }
    tf.dispose([x, w]);
  },
});
