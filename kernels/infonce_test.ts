/**
 * CLIP's fused InfoNCE (`kernels/infonce.ts`, used by `losses/clip.ts` on
 * WebGPU) against the op composition on the CPU: the loss and the gradients of
 * both embeddings, the logit scale and the bias, for batches of 1 to 300 (more
 * rows than a workgroup has threads, several gradient workgroups), scales up
 * to 100 (large logits stay finite), with and without a bias, with the
 * diagonal or target weights (UniCL's multi-positive, ALBEF's soft ones); and
 * the dispatch count. Runs on the fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { clipLoss } from "../losses/clip.ts";
import { l2NormalizeComposite } from "./l2_normalize.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/infonce_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

interface Case {
  batch: number;
  dim: number;
  scale: number;
  bias?: number;
  /** Target weights: UniCL's of groups `i mod 3` (every fifth unknown), or soft ones. */
  targets?: "groups" | "soft";
}

const CASES: Case[] = [
  { batch: 1, dim: 3, scale: 1 },
  { batch: 5, dim: 16, scale: 14.3 },
  { batch: 37, dim: 8, scale: 100, bias: -3 },
  { batch: 300, dim: 16, scale: 10, bias: 0.5 },
  { batch: 1, dim: 3, scale: 2, targets: "groups" },
  { batch: 37, dim: 8, scale: 30, bias: -2, targets: "groups" },
  { batch: 300, dim: 16, scale: 10, targets: "groups" },
  { batch: 5, dim: 16, scale: 14.3, bias: 1, targets: "soft" },
  { batch: 260, dim: 8, scale: 50, targets: "soft" },
];

/** The weights of `c.targets`, computed on the host (the same on every backend). */
function targetWeights(c: Case, seed: number): tf.Tensor2D | undefined {
  const b = c.batch, idx = [...Array(b).keys()];
  if (c.targets === "groups") {
    const id = (i: number) => (i % 5 === 4 ? -1 - i : i % 3);
    const size = idx.map((i) => idx.filter((j) => id(j) === id(i)).length);
    return tf.tensor2d(idx.flatMap((i) => idx.map((j) => (id(i) === id(j) ? 1 / size[i]! : 0))), [
      b,
      b,
    ]);
  }
  if (c.targets === "soft") {
    const r = values(b * b, seed).map((x) => 3 * x);
    const rowSum = idx.map((i) => idx.reduce((a, j) => a + Math.exp(r[i * b + j]!), 0));
    const colSum = idx.map((j) => idx.reduce((a, i) => a + Math.exp(r[i * b + j]!), 0));
    const w = idx.flatMap((i) =>
      idx.map((j) =>
        (Math.exp(r[i * b + j]!) / rowSum[i]! + Math.exp(r[i * b + j]!) / colSum[j]!) / 2
      )
    );
    return tf.tensor2d(w, [b, b]);
  }
  return undefined;
}

async function lossAndGrads(c: Case, seed: number): Promise<number[][]> {
  const embed = (s: number) =>
    l2NormalizeComposite(tf.tensor2d(values(c.batch * c.dim, s), [c.batch, c.dim])) as tf.Tensor2D;
  const image = embed(seed), text = embed(seed + 1);
  const scale = tf.scalar(c.scale), bias = tf.scalar(c.bias ?? 0);
  const targets = targetWeights(c, seed + 2);
  const f = (i: tf.Tensor, t: tf.Tensor, s: tf.Tensor, b: tf.Tensor) =>
    clipLoss(i as tf.Tensor2D, t as tf.Tensor2D, {
      scale: s as tf.Scalar,
      ...(c.bias === undefined ? {} : { bias: b as tf.Scalar }),
      ...(targets ? { targets } : {}),
    });
  const loss = f(image, text, scale, bias);
  const xs = c.bias === undefined ? [image, text, scale] : [image, text, scale, bias];
  const grads = tf.grads((i, t, s, b) => f(i!, t!, s!, b ?? bias))(xs);
  const out = await Promise.all([loss, ...grads].map(async (x) => Array.from(await x.data())));
  tf.dispose([image, text, scale, bias, loss, ...grads, ...(targets ? [targets] : [])]);
  return out;
}

Deno.test({
  name: "kernels/infonce: loss and gradients (embeddings, scale, bias) match the composition",
  ...opts,
  async fn() {
    await tf.setBackend("cpu");
    const expected = await Promise.all(CASES.map((c, i) => lossAndGrads(c, 2 * i + 1)));
    await useNovalabWebGpu();
    const actual = await Promise.all(CASES.map((c, i) => lossAndGrads(c, 2 * i + 1)));
    const names = ["loss", "dimage", "dtext", "dscale", "dbias"];
    CASES.forEach((c, i) =>
      names.slice(0, expected[i]!.length).forEach((name, k) =>
        assertClose(actual[i]![k]!, expected[i]![k]!, `${JSON.stringify(c)}: ${name}`, {
          atol: 2e-5,
          rtol: 2e-4,
        })
      )
    );
    // Exactly ln B at scale 0.
    await useNovalabWebGpu();
    const zero = await lossAndGrads({ batch: 7, dim: 4, scale: 0 }, 9);
    assert.ok(Math.abs(zero[0]![0]! - Math.log(7)) < 1e-6, `${zero[0]![0]} vs ln 7`);
  },
});

Deno.test({
  name: "kernels/infonce: after the similarity matmul, two dispatches forward and two backward",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const image = tf.variable(l2NormalizeComposite(tf.tensor2d(values(40, 3), [10, 4])));
    const text = tf.variable(l2NormalizeComposite(tf.tensor2d(values(40, 4), [10, 4])));
    const scale = tf.variable(tf.scalar(5));
    const weights = targetWeights({ batch: 10, dim: 4, scale: 5, targets: "soft" }, 5)!;
    await Promise.all([image.data(), text.data(), scale.data(), weights.data()]);
    // The diagonal, then target weights: the same four programs either way.
    for (const targets of [undefined, weights]) {
      const before = tf.memory().numTensors;
      counter.reset();
      const { value, grads } = tf.variableGrads(
        () =>
          clipLoss(image as tf.Tensor2D, text as tf.Tensor2D, {
            scale: scale as tf.Scalar,
            ...(targets ? { targets } : {}),
          }),
        [image, text, scale],
      );
      await value.data();
      const { byProgram } = counter.read();
      tf.dispose([value, ...Object.values(grads)]);
      const infoNce = Object.entries(byProgram).filter(([k]) => k.startsWith("NovalabInfoNce"));
      assert.deepEqual(Object.fromEntries(infoNce), {
        NovalabInfoNceLseProgram: 1,
        NovalabInfoNceFinishProgram: 1,
        NovalabInfoNceGradProgram: 1,
        NovalabInfoNceGradFinishProgram: 1,
      });
      const others = Object.entries(byProgram).filter(([k]) => !k.startsWith("NovalabInfoNce"));
      assert.ok(
        others.every(([k]) => k === "NovalabMatMulProgram"),
        `only the similarity matmul and its gradients besides: ${JSON.stringify(byProgram)}`,
      );
      assert.equal(tf.memory().numTensors, before, "no tensors left behind");
    }
    tf.dispose([image, text, scale, weights]);
  },
});
