import assert from "node:assert/strict";
import { normalsFromBits, philox4x32, philoxKey } from "./philox.ts";

const hex = (words: Uint32Array) => Array.from(words, (w) => w.toString(16).padStart(8, "0"));

Deno.test("philox4x32: Random123's known answers (kat_vectors, Philox4x32-10)", () => {
  assert.deepEqual(hex(philox4x32([0, 0, 0, 0], [0, 0])), [
    "6627e8d5",
    "e169c58d",
    "bc57ac4c",
    "9b00dbd8",
  ]);
  const ones = 0xffffffff;
  assert.deepEqual(hex(philox4x32([ones, ones, ones, ones], [ones, ones])), [
    "408f276d",
    "41c83b0e",
    "a20bc7c6",
    "6d5451fd",
  ]);
  assert.deepEqual(
    hex(philox4x32([0x243f6a88, 0x85a308d3, 0x13198a2e, 0x03707344], [0xa4093822, 0x299f31d0])),
    ["d16cfe09", "94fdcceb", "5001e420", "24126ea1"],
  );
});

Deno.test("philoxKey: a seed's low and high words; bad seeds named", () => {
  assert.deepEqual(philoxKey(0), [0, 0]);
  assert.deepEqual(philoxKey(42), [42, 0]);
  assert.deepEqual(philoxKey(2 ** 32 + 5), [5, 1]);
  assert.deepEqual(philoxKey(-1), [0xffffffff, 0xffffffff]);
  assert.deepEqual(philoxKey(Number.MAX_SAFE_INTEGER), [0xffffffff, 0x1fffff]);
  assert.throws(() => philoxKey(0.5), /seed must be a safe integer, got 0.5/);
  assert.throws(() => philoxKey(2 ** 60), /safe integer/);
});

Deno.test("normalsFromBits: standard normal moments over 2^18 deviates; partial writes", () => {
  const n = 1 << 18;
  const z = new Float64Array(n);
  const bits = new Uint32Array(4);
  for (let j = 0; j < n / 4; j++) normalsFromBits(philox4x32([j, 7, 0, 0], [1, 2], bits), z, 4 * j);
  let mean = 0, second = 0, fourth = 0, beyond2 = 0;
  for (const v of z) {
    mean += v / n;
    second += v * v / n;
    fourth += v ** 4 / n;
    if (Math.abs(v) > 2) beyond2++;
  }
  // Standard errors: 1/√n ≈ 0.002 for the mean, √2/√n ≈ 0.003 for the variance.
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(second - 1) < 0.015, `variance ${second}`);
  assert.ok(Math.abs(fourth - 3) < 0.1, `fourth moment ${fourth}`);
  assert.ok(Math.abs(beyond2 / n - 0.0455) < 0.002, `P(|z| > 2) ${beyond2 / n}`);
  // Near the end of the output only what fits is written.
  const tail = new Float64Array(6).fill(NaN);
  normalsFromBits(philox4x32([0, 0, 0, 0], [0, 0], bits), tail, 4);
  assert.ok(tail.slice(0, 4).every(Number.isNaN));
  assert.ok(tail.slice(4).every(Number.isFinite));
});
