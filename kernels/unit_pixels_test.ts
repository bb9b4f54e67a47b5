/**
 * Image integers converted on the GPU (`kernels/unit_pixels.ts`, through
 * `PixelBatch.toTensor`) against the host's conversion, bit for bit: every
 * 8-bit and every 16-bit value, sizes that leave a part-filled last word, a
 * batch widened to 16 bits, replicated grey images; one dispatch a batch.
 * Runs on any adapter, including Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { PixelBatch } from "../data/pixel_batch.ts";
import { UNIT_PIXELS } from "./unit_pixels.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/unit_pixels_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** A batch of `count` images `[h, w, c]` filled by `fill(batch, per)`. */
function batchOf(
  count: number,
  shape: [number, number, number],
  fill: (batch: PixelBatch, per: number) => void,
): PixelBatch {
  const batch = new PixelBatch(count, shape);
  fill(batch, shape[0] * shape[1] * shape[2]);
  return batch;
}

const ramp8 = (n: number, step: number) => Uint8Array.from({ length: n }, (_, i) => i * step);
const ramp16 = (n: number, step: number) => Uint16Array.from({ length: n }, (_, i) => i * step);

Deno.test({
  name: "kernels/unit_pixels: the device converts to the host's floats bit for bit, one dispatch",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const cases: [string, PixelBatch][] = [
      ["one value", batchOf(1, [1, 1, 1], (b) => b.put(0, Uint8Array.of(200)))],
      ["every 8-bit value", batchOf(1, [16, 16, 1], (b) => b.put(0, ramp8(256, 1)))],
      // 2·3·5·3 = 90 values: the last word holds two.
      [
        "odd size",
        batchOf(2, [3, 5, 3], (b, per) => {
          b.put(0, ramp8(per, 3));
          b.put(per, ramp8(per, 7));
        }),
      ],
      ["every 16-bit value", batchOf(1, [256, 256, 1], (b) => b.put(0, ramp16(65536, 1)))],
      // 3 values an image, 16 bits: the last word holds one.
      [
        "widened",
        batchOf(3, [1, 1, 3], (b, per) => {
          b.put(0, Uint8Array.of(1, 128, 255));
          b.put(per, Uint16Array.of(1, 40000, 65535));
          b.put(2 * per, Uint8Array.of(9, 10, 11));
        }),
      ],
      [
        "grey, stored once per pixel",
        batchOf(3, [5, 3, 3], (b, per) => {
          for (let j = 0; j < 3; j++) b.put(j * per, ramp8(per / 3, 11 + j), 3);
        }),
      ],
      [
        "grey, then colour (expanded)",
        batchOf(2, [3, 3, 3], (b, per) => {
          b.put(0, ramp16(per / 3, 977), 3);
          b.put(per, ramp8(per, 5));
        }),
      ],
      [
        "grey replicated",
        batchOf(2, [5, 3, 3], (b, per) => {
          b.put(0, ramp8(per / 3, 17), 3);
          b.put(per, ramp16(per / 3, 4001), 3);
        }),
      ],
    ];
    for (const [what, batch] of cases) {
      counter.reset();
      const image = batch.toTensor();
      assert.deepEqual(image.shape, batch.shape, what);
      assert.equal(image.dtype, "float32", what);
      const got = (await image.data()) as Float32Array;
      image.dispose();
      assert.equal(counter.read().byProgram["NovalabUnitPixelsProgram"], 1, what);
      const want = batch.toFloat32();
      const bad = got.findIndex((v, i) => !Object.is(v, want[i]));
      assert.equal(bad, -1, `${what}: value ${bad} is ${got[bad]}, the host's ${want[bad]}`);
    }
  },
});

Deno.test({
  name: "kernels/unit_pixels: inputs that do not fit are refused with the sizes",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const packed = tf.tensor1d([1, 2], "int32");
    assert.throws(
      () =>
        tf.engine().runKernel(UNIT_PIXELS, { packed, table: tf.zeros([256]) }, {
          depth: 8,
          size: 25,
          replicate: 3,
        }),
      /size 25 does not fit 2 words at 8 bits \(each value 3 times\)/,
    );
    const table = tf.zeros([256]);
    assert.throws(
      () => tf.engine().runKernel(UNIT_PIXELS, { packed, table }, { depth: 8, size: 9 }),
      /size 9 does not fit 2 words at 8 bits/,
    );
    assert.throws(
      () => tf.engine().runKernel(UNIT_PIXELS, { packed, table }, { depth: 16, size: 4 }),
      /table must be float32 \[65536\]/,
    );
    assert.throws(
      () => tf.engine().runKernel(UNIT_PIXELS, { packed, table }, { depth: 12, size: 4 }),
      /depth must be 8 or 16, got 12/,
    );
    tf.dispose([packed, table]);
  },
});
