import assert from "node:assert/strict";
import { sumPatchChannels } from "./patch_embed_load.ts";

Deno.test("patch embedding: channels summed per patch position (rows read channel k mod C)", () => {
  // Two patch positions × three channels, two outputs: rows (pos 0: r, g, b), (pos 1: r, g, b).
  const weight = {
    shape: [6, 2],
    data: Float32Array.from([1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]),
  };
  const grey = sumPatchChannels(weight, 3);
  assert.deepEqual(grey.shape, [2, 2]);
  assert.deepEqual([...grey.data], [1 + 3 + 5, 2 + 4 + 6, 7 + 9 + 11, 8 + 10 + 12]);
});
