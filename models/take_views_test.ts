import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { TakeViews } from "./take_views.ts";

await tf.setBackend("cpu");

const train = { training: true, step: 0, seed: 0 };
const data = (t: tf.Tensor) => Array.from(t.dataSync());

Deno.test("take_views: a range of views, cut to the views there are", () => {
  const x = tf.tensor3d(Array.from({ length: 12 }, (_, i) => i), [6, 1, 2]);
  const globals = new TakeViews({ start: 0, count: 2 }, "g");
  assert.deepEqual(globals.forward([x], train).shape, [2, 1, 2]);
  assert.deepEqual(data(new TakeViews({ start: 4, count: 5 }, "l").forward([x], train)), [
    8,
    9,
    10,
    11,
  ]);
  const inference = tf.zeros([1, 3, 2]);
  assert.deepEqual(globals.forward([inference], train).shape, [1, 3, 2]);
  assert.throws(
    () => new TakeViews({ start: 1, count: 1 }, "l").forward([inference], train),
    /node "l" \(take_views\): view 1 of 1 does not exist/,
  );
  assert.throws(() => globals.forward([tf.zeros([3, 2])], train), /expects views \[V, B, \.\.\.\]/);
});
