import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { packTextTokens, TakeToken, unpackTextTokens } from "./tokens.ts";

await tf.setBackend("cpu");
const run = { training: false, step: 0, seed: 0 };

Deno.test("tokens: pack zeroes padded features and round-trips through unpack", () => {
  const before = tf.memory().numTensors;
  tf.tidy(() => {
    const features = tf.tensor3d([[[1, 2], [3, 4]], [[5, 6], [7, 8]]]);
    const packed = packTextTokens(features, tf.tensor2d([[1, 1], [1, 0]], undefined, "int32"));
    assert.deepEqual(packed.arraySync(), [[[1, 2, 1], [3, 4, 1]], [[5, 6, 1], [0, 0, 0]]]);
    const { features: f, mask } = unpackTextTokens(packed);
    assert.deepEqual(f.arraySync(), [[[1, 2], [3, 4]], [[5, 6], [0, 0]]]);
    assert.deepEqual(mask.arraySync(), [[1, 1], [1, 0]]);
  });
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("take_token: picks token i of [..., T, D], negative from the end", () => {
  tf.tidy(() => {
    const x = tf.reshape(tf.range(0, 2 * 3 * 3 * 2), [2, 3, 3, 2]); // [V, B, T, D]
    const first = new TakeToken(0).forward([x], run) as tf.Tensor;
    assert.deepEqual(first.shape, [2, 3, 2]);
    assert.deepEqual((first.arraySync() as number[][][])[1]![2], [30, 31]);
    const last = new TakeToken(-1).forward([x], run) as tf.Tensor;
    assert.deepEqual((last.arraySync() as number[][][])[0]![0], [4, 5]);
  });
});
