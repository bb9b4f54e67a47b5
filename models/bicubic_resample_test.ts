import assert from "node:assert/strict";
import { bicubicAxis, bicubicResampleMatrix } from "./bicubic_resample.ts";

/** PyTorch 1.13's `F.interpolate(mode="bicubic", align_corners=False)` maps, rows = outputs. */
const TORCH: [number, number, boolean, number[][]][] = [
  [4, 2, true, [[0.458678, 0.458678, 0.119835, -0.03719], [
    -0.03719,
    0.119835,
    0.458678,
    0.458678,
  ]]],
  [4, 2, false, [[0.5, 0.59375, -0.09375, 0], [0, -0.09375, 0.59375, 0.5]]],
  [2, 4, false, [[1.105469, -0.105469], [0.773438, 0.226562], [0.226562, 0.773438], [
    -0.105469,
    1.105469,
  ]]],
  [2, 4, true, [[1.088235, -0.088235], [0.792857, 0.207143], [0.207143, 0.792857], [
    -0.088235,
    1.088235,
  ]]],
];

Deno.test("bicubic resampling: each axis map is PyTorch's, with and without antialias", () => {
  for (const [from, to, antialias, expected] of TORCH) {
    const map = bicubicAxis(from, to, antialias);
    expected.flat().forEach((w, i) => {
      assert.ok(
        Math.abs(map[i]! - w) < 1e-6,
        `${from}→${to} aa=${antialias} [${i}]: ${map[i]} vs ${w}`,
      );
    });
  }
});

Deno.test("bicubic resampling: the same grid is the identity, rows sum to 1", () => {
  for (const antialias of [true, false]) {
    const same = bicubicResampleMatrix([3, 5], [3, 5], antialias);
    same.forEach((w, i) => assert.equal(w, Math.floor(i / 15) === i % 15 ? 1 : 0));
    const map = bicubicResampleMatrix([14, 14], [5, 9], antialias);
    for (let r = 0; r < 45; r++) {
      const sum = map.subarray(r * 196, (r + 1) * 196).reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-5, `row ${r} sums to ${sum}`);
    }
  }
  assert.throws(() => bicubicResampleMatrix([0, 2], [2, 2], true), /positive integers, got 0/);
});
