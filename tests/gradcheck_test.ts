import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { assertGradients, gradCheck } from "./gradcheck.ts";

await tf.setBackend("cpu");

/** Σ sin(x) · y: a smooth function of two inputs. */
const f = (x: tf.Tensor, y: tf.Tensor) => tf.sum(tf.mul(tf.sin(x), y)) as tf.Scalar;

/** The same value with a gradient that is off by `factor` in x. */
const wrong = (factor: number) =>
  tf.customGrad((x, y, _save) => ({
    value: f(x as tf.Tensor, y as tf.Tensor),
    gradFunc: (dy) => [
      tf.mul(dy as tf.Tensor, tf.mul(tf.mul(tf.cos(x as tf.Tensor), y as tf.Tensor), factor)),
      tf.mul(dy as tf.Tensor, tf.sin(x as tf.Tensor)),
    ],
  }));

Deno.test("gradCheck accepts a correct gradient and checks every entry of small inputs", async () => {
  const x = tf.tensor1d([0.3, -1.2, 2, 0.7]);
  const y = tf.tensor1d([1, -0.5, 0.25, 2]);
  const before = tf.memory().numTensors;
  const result = await gradCheck(f, [x, y]);
  assert.equal(result.ok, true);
  assert.equal(result.checked, 8);
  assert.ok(result.worst.ratio < 0.1, `worst ratio ${result.worst.ratio}`);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, y]);
});

Deno.test("gradCheck rejects a gradient that is 5% off and names the entry", async () => {
  const x = tf.tensor1d([0.3, -1.2, 2, 0.7]);
  const y = tf.tensor1d([1, -0.5, 0.25, 2]);
  const bad = wrong(1.05) as (...xs: tf.Tensor[]) => tf.Scalar;
  const result = await gradCheck(bad, [x, y]);
  assert.equal(result.ok, false);
  assert.equal(result.worst.input, 0);
  await assert.rejects(assertGradients(bad, [x, y]), /gradient mismatch at input 0, entry \d/);
  await assertGradients(wrong(1) as (...xs: tf.Tensor[]) => tf.Scalar, [x, y]);
  tf.dispose([x, y]);
});

Deno.test("gradCheck samples distinct entries of large inputs", async () => {
  const x = tf.linspace(-1, 1, 500);
  const y = tf.onesLike(x);
  const result = await gradCheck(f, [x, y], { maxEntries: 10, seed: 3 });
  assert.equal(result.checked, 20);
  assert.equal(result.ok, true);
  tf.dispose([x, y]);
});
