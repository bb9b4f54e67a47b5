import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import { sampleCropBox, sampleViewBoxes, ViewAugment, type ViewsConfig } from "./views.ts";

await tf.setBackend("cpu");
const base: ViewsConfig = { count: 2, scale: [0.5, 1], ratio: [3 / 4, 4 / 3], flip: 0 };
const train = (seed: number) => ({ training: true, step: 0, seed });
const images = () => tf.randomUniform([3, 8, 8, 2], 0, 1, "float32", 1) as tf.Tensor4D;

Deno.test("views: crop boxes stay inside the image and respect the area range", () => {
  const rng = new Rng(5);
  for (let i = 0; i < 500; i++) {
    const b = sampleCropBox(rng, { height: 28, width: 28, scale: [0.2, 0.6], ratio: [0.5, 2] });
    assert.ok(b.top >= 0 && b.left >= 0 && b.top + b.height <= 28 && b.left + b.width <= 28);
    const area = (b.height * b.width) / (28 * 28);
    assert.ok(area > 0.12 && area < 0.75, `area ${area}`);
  }
  // Impossible ratio range for a square image: centre-crop fallback clamps the aspect.
  const wide = sampleCropBox(new Rng(1), { height: 10, width: 10, scale: [1, 1], ratio: [2, 3] });
  assert.deepEqual(wide, { top: 2, left: 0, height: 5, width: 10 });
});

Deno.test("views: training shapes, determinism per seed, seeds differ", () => {
  const x = images();
  const m = new ViewAugment({ ...base, count: 3, size: 6 }, "views");
  const a = m.forward([x], train(1));
  assert.deepEqual(a.shape, [3, 3, 6, 6, 2]);
  const again = m.forward([x], train(1));
  const other = m.forward([x], train(2));
  assert.deepEqual(a.dataSync(), again.dataSync());
  assert.notDeepEqual(a.dataSync(), other.dataSync());
  const v = a.dataSync();
  assert.ok(v.every((p) => p >= 0 && p <= 1));
  const perView = v.length / 3;
  assert.notDeepEqual(v.subarray(0, perView), v.subarray(perView, 2 * perView), "views differ");
  tf.dispose([x, a, again, other]);
  const boxes = sampleViewBoxes(4, { ...base, height: 8, width: 8, seed: 9 });
  assert.equal(boxes.length, 2 * 4 * 4);
  assert.deepEqual(boxes, sampleViewBoxes(4, { ...base, height: 8, width: 8, seed: 9 }));
});

Deno.test("views: scale=[1,1] ratio=[1,1] reproduces the input exactly; flip=1 mirrors", () => {
  const x = images();
  const full = { ...base, scale: [1, 1] as [number, number], ratio: [1, 1] as [number, number] };
  const same = new ViewAugment(full, "v").forward([x], train(3));
  assert.deepEqual(same.shape, [2, 3, 8, 8, 2]);
  const expected = x.dataSync();
  const got = same.dataSync();
  assert.deepEqual(got.subarray(0, expected.length), expected);
  assert.deepEqual(got.subarray(expected.length), expected);
  const flipped = new ViewAugment({ ...full, flip: 1 }, "v").forward([x], train(3));
  const mirror = tf.reverse(x, 2);
  assert.deepEqual(flipped.dataSync().subarray(0, expected.length), mirror.dataSync());
  tf.dispose([x, same, flipped, mirror]);
});

Deno.test("views: inference is the (resized) input with one view; no leaks", () => {
  const x = images();
  const before = tf.memory().numTensors;
  const m = new ViewAugment({ ...base, count: 4 }, "v");
  const inf = m.forward([x], { training: false, step: 0, seed: 0 });
  assert.deepEqual(inf.shape, [1, 3, 8, 8, 2]);
  assert.deepEqual(inf.dataSync(), x.dataSync());
  const small = new ViewAugment({ ...base, size: 4 }, "v").forward([x], {
    training: false,
    step: 0,
    seed: 0,
  });
  assert.deepEqual(small.shape, [1, 3, 4, 4, 2]);
  // Corner-aligned resize keeps the corner pixels.
  assert.equal(small.dataSync()[0], x.dataSync()[0]);
  tf.dispose([inf, small]);
  for (let s = 0; s < 5; s++) m.forward([x], train(s)).dispose();
  assert.equal(tf.memory().numTensors, before);
  assert.throws(() => m.forward([["a"]], train(0)), /"v" \(views\) expects images.*got strings/);
  x.dispose();
});
