import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients } from "../tests/gradcheck.ts";
import { nclipLoss, nclipTerms, prototypeUsage } from "./nclip.ts";
import { assertNoLeak, close, gaussian, permuteBatch, read } from "./testing.ts";

await tf.setBackend("cpu");

const as2d = (t: tf.Tensor) => t as tf.Tensor2D;
const H = (p: number[]) => -p.reduce((a, x) => a + (x > 0 ? x * Math.log(x) : 0), 0);

/** Reads the three terms (and disposes them). */
function terms(image: tf.Tensor, text: tf.Tensor, options = {}) {
  const t = nclipTerms(as2d(image), as2d(text), options);
  return { cross: read(t.cross), sharpness: read(t.sharpness), smoothness: read(t.smoothness) };
}

/** `[B, Kp]` logits putting `height` on prototype `ks[b]` of row b. */
function peaked(ks: number[], kp: number, height = 100): tf.Tensor2D {
  return tf.tidy(() => tf.mul(tf.oneHot(tf.tensor1d(ks, "int32"), kp), height) as tf.Tensor2D);
}

Deno.test("nclip: hand-computed Kp = 2, B = 2 case at τ = τ_t = 1", () => {
  // p_V rows [¼, ¾] and [¾, ¼]; p_T = [½, ½] for both rows.
  const ln3 = Math.log(3);
  const image = tf.tensor2d([[0, ln3], [ln3, 0]]);
  const text = tf.zeros([2, 2]);
  const cross = -0.5 * (Math.log(0.25) + Math.log(0.75)) + Math.log(2);
  const sharpness = H([0.25, 0.75]) + Math.log(2);
  const smoothness = 2 * Math.log(2);
  const got = terms(image, text, { temperature: 1, targetTemperature: 1 });
  close(got.cross, cross, 1e-6);
  close(got.sharpness, sharpness, 1e-6);
  close(got.smoothness, smoothness, 1e-6);
  const weights = { crossWeight: 0.5, sharpnessWeight: 2, smoothnessWeight: 3 };
  close(
    read(nclipLoss(as2d(image), as2d(text), { temperature: 1, targetTemperature: 1, ...weights })),
    0.5 * cross + 2 * sharpness - 3 * smoothness,
    1e-6,
  );
  // The temperature divides the logits: halved logits at τ = 0.5 give the same terms.
  const half = tf.div(image, 2);
  const same = terms(half, text, { temperature: 0.5, targetTemperature: 0.5 });
  close(same.cross, cross, 1e-6);
  tf.dispose([image, text, half]);
});

Deno.test("nclip cross term is 2 ln Kp for uniform outputs, ≈ 2 ln Kp at initialisation", () => {
  for (const kp of [2, 64, 4096]) {
    const zeros = tf.zeros([8, kp]);
    const got = terms(zeros, zeros);
    close(got.cross, 2 * Math.log(kp), 1e-5);
    close(got.sharpness, 2 * Math.log(kp), 1e-5);
    close(got.smoothness, 2 * Math.log(kp), 1e-5);
    zeros.dispose();
  }
  // Small random logits (a freshly initialised head): close to uniform.
  const [image, text] = [gaussian([16, 1024], 1), gaussian([16, 1024], 2)];
  const small = [tf.mul(image, 0.01), tf.mul(text, 0.01)];
  close(terms(small[0]!, small[1]!).cross, 2 * Math.log(1024), 1e-3);
  tf.dispose([image, text, ...small]);
});

Deno.test("nclip: without smoothness, collapse onto one prototype is a global minimum", () => {
  const kp = 16;
  // Collapse: every sample of both modalities on prototype 3.
  const collapsed = peaked([3, 3, 3, 3], kp);
  const c = terms(collapsed, collapsed);
  // Spread: sample b on prototype b, both modalities agreeing.
  const spread = peaked([0, 1, 2, 3], kp);
  const s = terms(spread, spread);
  // Term values (cross, sharpness, smoothness): collapsed (0, 0, 0), spread (0, 0, 2 ln 4).
  for (const v of [c.cross, c.sharpness, c.smoothness, s.cross, s.sharpness]) close(v, 0, 1e-5);
  close(s.smoothness, 2 * Math.log(4), 1e-5);
  // cross ≥ 0 and sharpness ≥ 0, so without smoothness both reach the minimum 0: nothing
  // prefers the spread solution over collapse.
  const noSmooth = { smoothnessWeight: 0 };
  close(read(nclipLoss(collapsed, collapsed, noSmooth)), 0, 1e-5);
  close(read(nclipLoss(spread, spread, noSmooth)), 0, 1e-5);
  // With smoothness, collapse costs 2 ln B more than the spread solution.
  const gap = read(nclipLoss(collapsed, collapsed)) - read(nclipLoss(spread, spread));
  close(gap, 2 * Math.log(4), 1e-5);
  tf.dispose([collapsed, spread]);
});

Deno.test("nclip is invariant to a joint permutation of the batch", () => {
  const [image, text] = [gaussian([6, 10], 3), gaussian([6, 10], 4)];
  const perm = [4, 1, 5, 0, 3, 2];
  const [pi, pt] = [permuteBatch(image, perm), permuteBatch(text, perm)];
  const opts = { temperature: 0.5, targetTemperature: 0.25 };
  close(read(nclipLoss(as2d(pi), as2d(pt), opts)), read(nclipLoss(as2d(image), as2d(text), opts)));
  tf.dispose([image, text, pi, pt]);
});

Deno.test("nclip gradients agree with finite differences (plain and sharpened targets)", async () => {
  const [image, text] = [gaussian([3, 5], 5), gaussian([3, 5], 6)];
  const f = (opts: object) => (i: tf.Tensor, t: tf.Tensor) => nclipLoss(as2d(i), as2d(t), opts);
  await assertGradients((i, t) => f({ temperature: 1 })(i!, t!), [image, text]);
  await assertGradients(
    (i, t) => f({ temperature: 2, targetTemperature: 1, smoothnessWeight: 0.5 })(i!, t!),
    [image, text],
  );
  tf.dispose([image, text]);
});

Deno.test("nclip stop-gradient: targets pass no gradient", () => {
  const [image, text] = [gaussian([4, 6], 7), gaussian([4, 6], 8)];
  const opts = { temperature: 1, targetTemperature: 0.5, stopGradient: true };
  const cross = (i: tf.Tensor, t: tf.Tensor) => nclipTerms(as2d(i), as2d(t), opts).cross;
  const [gImage, gText] = tf.grads(cross)([image, text]);
  // Reference: only text's prediction side depends on text; image's target is a constant.
  const target = tf.softmax(tf.div(image, 0.5));
  const reference = tf.grad((t: tf.Tensor) =>
    tf.mean(tf.neg(tf.sum(tf.mul(target, tf.logSoftmax(t)), -1)))
  )(text);
  const diff = read(tf.max(tf.abs(tf.sub(gText!, reference))) as tf.Scalar);
  assert.ok(diff < 1e-6, `max |Δgrad| ${diff}`);
  // Without stop-gradient, text also receives gradient through its own target.
  const [gImage2, gFull] = tf.grads((i: tf.Tensor, t: tf.Tensor) =>
    nclipTerms(as2d(i), as2d(t), { ...opts, stopGradient: false }).cross
  )([image, text]);
  assert.ok(read(tf.max(tf.abs(tf.sub(gFull!, reference))) as tf.Scalar) > 1e-3);
  tf.dispose([image, text, gImage!, gText!, target, reference, gImage2!, gFull!]);
});

Deno.test("prototypeUsage counts argmax prototypes or the batch-mean perplexity", async () => {
  const collapsed = peaked([3, 3, 3, 3], 8);
  const spread = peaked([0, 5, 5, 7], 8);
  assert.equal(await prototypeUsage(collapsed), 1);
  assert.equal(await prototypeUsage(spread), 3);
  close(await prototypeUsage(collapsed, { measure: "perplexity" }), 1, 1e-5);
  // Batch mean [¼, 0, 0, 0, 0, ½, 0, ¼] → exp(H) = exp(1.5 ln 2) = 2√2.
  close(await prototypeUsage(spread, { measure: "perplexity" }), 2 * Math.SQRT2, 1e-5);
  const zeros = tf.zeros([2, 3, 8]); // leading axes are flattened into samples
  close(await prototypeUsage(zeros, { measure: "perplexity" }), 8, 1e-5);
  await assert.rejects(
    () => prototypeUsage(zeros, { measure: "mode" as "argmax" }),
    /unknown measure "mode"; choices: argmax, perplexity/,
  );
  tf.dispose([collapsed, spread, zeros]);
});

Deno.test("nclip rejects mismatched logits and bad temperatures, naming the values", () => {
  const [a, b] = [tf.zeros([4, 8]), tf.zeros([4, 6])];
  assert.throws(() => nclipLoss(as2d(a), as2d(b)), /image \[4, 8\] and text \[4, 6\]/);
  assert.throws(
    () => nclipLoss(as2d(a), as2d(a), { temperature: 0 }),
    /temperature must be.*got 0/,
  );
  assert.throws(
    () => nclipLoss(as2d(a), as2d(a), { targetTemperature: -1 }),
    /targetTemperature must be.*got -1/,
  );
  tf.dispose([a, b]);
});

Deno.test("nclip leaves no tensors behind (terms, loss, gradients)", () => {
  const [image, text] = [gaussian([5, 7], 9), gaussian([5, 7], 10)];
  assertNoLeak((i, t) => nclipLoss(as2d(i!), as2d(t!), { stopGradient: true }), [image, text]);
  const before = tf.memory().numTensors;
  const t = nclipTerms(as2d(image), as2d(text));
  tf.dispose([t.cross, t.sharpness, t.smoothness]);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([image, text]);
});
