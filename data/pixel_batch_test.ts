/**
 * {@link PixelBatch} on the host: the `[0, 1]` values are `v / 255` and
 * `v / 65535` rounded once to float32; an 8-bit image keeps its values in a
 * batch widened to 16 bits; replication, substitution copies and overruns.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { PixelBatch, unitTable } from "./pixel_batch.ts";
import { pixelsToUnit } from "./decode.ts";

Deno.test("unitTable: every integer's value is its fraction of the maximum, rounded once", () => {
  for (const [depth, max] of [[8, 255], [16, 65535]] as const) {
    const table = unitTable(depth);
    assert.equal(table.length, max + 1);
    assert.equal(table[0], 0);
    assert.equal(table[max], 1);
    for (let v = 0; v <= max; v += depth === 8 ? 1 : 7) {
      assert.equal(table[v], Math.fround(v / max), `${depth}-bit ${v}`);
    }
  }
  // Widening an 8-bit value to 16 bits (v · 257) keeps its float exactly.
  const t8 = unitTable(8), t16 = unitTable(16);
  for (let v = 0; v < 256; v++) assert.equal(t16[v * 257], t8[v], `8-bit ${v} widened`);
});

Deno.test("PixelBatch: 8-bit images, a replicated grey image, a copied slot", () => {
  const batch = new PixelBatch(3, [1, 2, 3]); // 6 values an image
  batch.put(0, Uint8Array.of(0, 1, 2, 253, 254, 255));
  batch.put(6, Uint8Array.of(10, 200), 3);
  batch.copyWithin(12, 0, 6);
  assert.equal(batch.depth, 8);
  const got = batch.toFloat32();
  const expected = [0, 1, 2, 253, 254, 255, 10, 10, 10, 200, 200, 200, 0, 1, 2, 253, 254, 255]
    .map((v) => Math.fround(v / 255));
  assert.deepEqual(Array.from(got), expected);
});

Deno.test("PixelBatch: a 16-bit image widens the batch; earlier 8-bit images keep their values", () => {
  const batch = new PixelBatch(2, [1, 1, 3]);
  batch.put(0, Uint8Array.of(0, 128, 255));
  batch.put(3, Uint16Array.of(1, 32768, 65535));
  assert.equal(batch.depth, 16);
  batch.put(0, Uint8Array.of(7, 128, 255)); // an 8-bit image into the 16-bit batch
  const got = Array.from(batch.toFloat32());
  assert.deepEqual(got.slice(0, 3), [7, 128, 255].map((v) => Math.fround(v / 255)));
  assert.deepEqual(got.slice(3), [1, 32768, 65535].map((v) => Math.fround(v / 65535)));
});

Deno.test("PixelBatch: the float path and pixelsToUnit give the same values", () => {
  const data = Uint8Array.from({ length: 300 }, (_, i) => (i * 37) % 256);
  const deep = Uint16Array.from({ length: 100 }, (_, i) => (i * 4099) % 65536);
  const floats = new Float32Array(300 + 300);
  pixelsToUnit(data, { out: floats, offset: 0 });
  pixelsToUnit(deep, { out: floats, offset: 300, replicate: 3 });
  const batch = new PixelBatch(2, [10, 10, 3]);
  pixelsToUnit(data, { out: batch, offset: 0 });
  pixelsToUnit(deep, { out: batch, offset: 300, replicate: 3 });
  assert.deepEqual(batch.toFloat32(), floats);
});

Deno.test("PixelBatch: an image past the end is refused with the sizes", () => {
  const batch = new PixelBatch(1, [2, 2, 1]);
  assert.throws(
    () => batch.put(2, new Uint8Array(3)),
    /3 values at 2 overrun a batch of 4/,
  );
  assert.throws(() => batch.put(0, new Uint8Array(2), 3), /6 values at 0 overrun a batch of 4/);
});

Deno.test("PixelBatch.toTensor on the CPU backend: [B, H, W, C] float32, the host's values", async () => {
  await tf.setBackend("cpu");
  const batch = new PixelBatch(2, [3, 1, 1]);
  batch.put(0, Uint8Array.of(0, 51, 255));
  batch.put(3, Uint8Array.of(1, 2, 3));
  const image = batch.toTensor();
  assert.deepEqual(image.shape, [2, 3, 1, 1]);
  assert.equal(image.dtype, "float32");
  assert.deepEqual(await image.data(), batch.toFloat32());
  image.dispose();
});

Deno.test("PixelBatch: grey images are stored once per pixel until a colour image arrives", () => {
  const batch = new PixelBatch(3, [1, 2, 3]); // 6 values an image, 2 pixels
  batch.put(0, Uint8Array.of(10, 20), 3);
  batch.put(6, Uint8Array.of(30, 40), 3);
  assert.equal(batch.replicate, 3);
  batch.copyWithin(12, 0, 6); // a substitute for a third image that did not decode
  const grey = [10, 10, 10, 20, 20, 20, 30, 30, 30, 40, 40, 40, 10, 10, 10, 20, 20, 20];
  assert.deepEqual(Array.from(batch.toFloat32()), grey.map((v) => Math.fround(v / 255)));
  batch.put(12, Uint8Array.of(1, 2, 3, 4, 5, 6)); // colour: the batch expands
  assert.equal(batch.replicate, 1);
  const mixed = [...grey.slice(0, 12), 1, 2, 3, 4, 5, 6];
  assert.deepEqual(Array.from(batch.toFloat32()), mixed.map((v) => Math.fround(v / 255)));
  // 16-bit grey, then 8-bit grey: widened in the compact form.
  const deep = new PixelBatch(2, [1, 1, 3]);
  deep.put(0, Uint16Array.of(65535), 3);
  deep.put(3, Uint8Array.of(255), 3);
  assert.equal(deep.replicate, 3);
  assert.deepEqual(Array.from(deep.toFloat32()), [1, 1, 1, 1, 1, 1]);
});
