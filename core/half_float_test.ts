import assert from "node:assert/strict";
import { f16ToF32, widenHalf } from "./half_float.ts";

Deno.test("half floats: F16 patterns widen to their exact values, specials included", () => {
  assert.equal(f16ToF32(0x3c00), 1);
  assert.equal(f16ToF32(0xc100), -2.5);
  assert.equal(f16ToF32(0x7bff), 65504);
  assert.equal(f16ToF32(0x0001), 2 ** -24, "smallest subnormal");
  assert.equal(f16ToF32(0x03ff), 1023 * 2 ** -24, "largest subnormal");
  assert.ok(Object.is(f16ToF32(0x8000), -0));
  assert.equal(f16ToF32(0x7c00), Infinity);
  assert.equal(f16ToF32(0xfc00), -Infinity);
  assert.ok(Number.isNaN(f16ToF32(0x7e00)));
  // Little-endian pairs: 1.0 and -2.5 as F16; 1.0 and -2.0 as BF16.
  assert.deepEqual(Array.from(widenHalf(new Uint8Array([0x00, 0x3c, 0x00, 0xc1]), "F16")), [
    1,
    -2.5,
  ]);
  assert.deepEqual(Array.from(widenHalf(new Uint8Array([0x80, 0x3f, 0x00, 0xc0]), "BF16")), [
    1,
    -2,
  ]);
});
