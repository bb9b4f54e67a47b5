import assert from "node:assert/strict";
import { fromTimm, skippedTimmTensor } from "./timm_layout.ts";

Deno.test("timm layout: Linear weights transposed, the Conv2d patch embedding flattened", () => {
  // [out 2, in 3] → [3, 2]
  const linear = { shape: [2, 3], data: Float32Array.from([1, 2, 3, 4, 5, 6]) };
  assert.deepEqual(fromTimm("blocks.0.mlp.fc1.weight", linear), {
    shape: [3, 2],
    data: Float32Array.from([1, 4, 2, 5, 3, 6]),
  });
  // Conv2d [D 2, C 2, P 2, P 2] with value 1000·o + 100·c + 10·i + j: row (i·2 + j)·2 + c of
  // the patch linear, column o, holds W[o, c, i, j] (patches flatten as row, column, channel).
  const conv = new Float32Array(16);
  for (let o = 0; o < 2; o++) {
    for (let c = 0; c < 2; c++) {
      for (let i = 0; i < 2; i++) {
        for (let j = 0; j < 2; j++) {
          conv[((o * 2 + c) * 2 + i) * 2 + j] = 1000 * o + 100 * c + 10 * i + j;
        }
      }
    }
  }
  const patch = fromTimm("patch_embed.proj.weight", { shape: [2, 2, 2, 2], data: conv });
  assert.deepEqual(patch.shape, [8, 2]);
  for (let i = 0; i < 2; i++) {
    for (let j = 0; j < 2; j++) {
      for (let c = 0; c < 2; c++) {
        for (let o = 0; o < 2; o++) {
          assert.equal(patch.data[((i * 2 + j) * 2 + c) * 2 + o], 1000 * o + 100 * c + 10 * i + j);
        }
      }
    }
  }
  // Norms, biases, tokens and positions are kept as they are.
  const bias = { shape: [3], data: Float32Array.from([1, 2, 3]) };
  assert.equal(fromTimm("blocks.0.norm1.weight", bias), bias);
  const pos = { shape: [1, 5, 2], data: new Float32Array(10) };
  assert.equal(fromTimm("pos_embed", pos), pos);
  assert.throws(
    () => fromTimm("patch_embed.proj.weight", linear),
    /has shape \[2,3\]; a timm patch embedding is a Conv2d weight \[D, C, P, P\]/,
  );
  assert.ok(skippedTimmTensor("head.weight") && skippedTimmTensor("head.bias"));
  assert.ok(!skippedTimmTensor("fc_norm.weight"));
});
