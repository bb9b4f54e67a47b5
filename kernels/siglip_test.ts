/**
 * The fused SigLIP loss (`kernels/siglip.ts`, through `losses/siglip.ts`)
 * against the op composition on tfjs's CPU backend: the value and the
 * gradients of image, text, log-scale θ (s = exp θ) and bias, batches of 1 to
 * 300 (rows wider than a workgroup), SigLIP's initialisation and extreme
 * logits, the diagonal's labels or a positive mask's (UniCL's groups), one
 * row dispatch each way. Runs on any adapter, including Mesa's
 * llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { sigLipLoss } from "../losses/siglip.ts";
import { l2Normalize } from "./l2_normalize.ts";
import { assertClose, useNovalabWebGpu, values, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/siglip_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** Same-group pairs of groups `i mod 3`, every fourth sample alone (a 0/1 mask). */
function groupMask(batch: number): tf.Tensor2D {
  const id = (i: number) => (i % 4 === 3 ? -1 - i : i % 3);
  const idx = [...Array(batch).keys()];
  return tf.tensor2d(idx.flatMap((i) => idx.map((j) => (id(i) === id(j) ? 1 : 0))), [batch, batch]);
}

/**
 * Loss and gradients of (image, text, θ, b) at `[batch, dim]` with s = exp θ;
 * `grouped`: labels from {@linkcode groupMask}.
 */
function lossAndGrads(batch: number, dim: number, theta: number, bias: number, grouped = false) {
  return () => {
    const image = tf.tensor2d(values(batch * dim, 51), [batch, dim]);
    const text = tf.tensor2d(values(batch * dim, 52), [batch, dim]);
    const positives = grouped ? groupMask(batch) : undefined;
    const f = (i: tf.Tensor, t: tf.Tensor, th: tf.Tensor, b: tf.Tensor) =>
      sigLipLoss(l2Normalize(i) as tf.Tensor2D, l2Normalize(t) as tf.Tensor2D, {
        scale: tf.exp(th) as tf.Scalar,
        bias: b as tf.Scalar,
        ...(positives ? { positives } : {}),
      });
    const { value, grads } = tf.valueAndGrads(f)([image, text, tf.scalar(theta), tf.scalar(bias)]);
    return [value, ...grads];
  };
}

const NAMES = ["loss", "d image", "d text", "d θ", "d bias"];

Deno.test({
  name: "kernels/siglip: the fused loss and its gradients match the CPU composition",
  ...opts,
  async fn() {
    const cases: [number, number, number, number, boolean?][] = [
      [1, 3, Math.log(10), -10],
      [5, 7, Math.log(10), -10],
      [33, 16, Math.log(2), -1],
      [300, 8, Math.log(10), -10],
      [12, 5, Math.log(100), 0],
      [12, 5, 0, 3],
      [1, 3, Math.log(10), -10, true],
      [33, 16, Math.log(2), -1, true],
      [300, 8, Math.log(10), -10, true],
    ];
    for (const [batch, dim, theta, bias, grouped] of cases) {
      const expected = await valuesOn("cpu", lossAndGrads(batch, dim, theta, bias, grouped));
      const counter = await useNovalabWebGpu();
      const actual = await valuesOn("webgpu", lossAndGrads(batch, dim, theta, bias, grouped));
      const what = `B=${batch} D=${dim} s=${Math.exp(theta).toFixed(1)} b=${bias}` +
        (grouped ? " grouped" : "");
      actual.forEach((a, i) => {
        const scale = Math.max(1e-3, ...Array.from(expected[i]!, Math.abs));
        assertClose(a, expected[i]!, `${what} ${NAMES[i]}`, { atol: 2e-5 * scale, rtol: 1e-4 });
      });
      const ran = counter.read().byProgram;
      assert.equal(ran["NovalabSigLipProgram"], 2, `${what}: one dispatch forward, one backward`);
      assert.equal(ran["UnaryOpProgram"] ?? 0, 0, `${what}: no softplus or negation pass`);
      assert.equal(ran["ReduceProgram"], 3, `${what}: the loss, s's and b's gradients summed`);
    }
  },
});

Deno.test({
  name:
    "kernels/siglip: terms of e⁻¹⁰ (every pair at SigLIP's initialisation scale) are not rounded away",
  ...opts,
  async fn() {
    // image = text = identity rows, s = 20, b = −10: positives ℓ = 10, negatives ℓ = −10, so
    // every one of the B² terms is softplus(−10) = log(1 + e⁻¹⁰) ≈ 4.54·10⁻⁵; fp32's
    // 1 + e⁻¹⁰ would keep only ~3 digits of it.
    const batch = 8;
    const eye = Array.from({ length: batch * batch }, (_, k) => k % (batch + 1) === 0 ? 1 : 0);
    const exact = batch * Math.log1p(Math.exp(-10));
    await useNovalabWebGpu();
    const [loss] = await valuesOn("webgpu", () => {
      const x = tf.tensor2d(eye, [batch, batch]);
      return sigLipLoss(x, x, { scale: 20, bias: -10 });
    });
    assert.ok(Math.abs(loss![0]! / exact - 1) < 1e-5, `loss ${loss![0]} vs ${exact}`);
  },
});
