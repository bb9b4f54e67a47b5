/**
 * Patch dropout (`models/patch_dropout.ts`): the count kept as open_clip and
 * timm count it, subsets that are uniform, distinct per image, input and seed,
 * and a gather whose custom gradient (a gather back) equals the scatter
 * computed directly, on every backend.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { assertClose, useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";
import { dropPatches, keptPatchCount, keptPatchIndices } from "./patch_dropout.ts";
import { VisionTransformer } from "./vit.ts";

Deno.test("patch dropout keeps max(1, ⌊L·(1 − rate)⌋) patches", () => {
  assert.equal(keptPatchCount(196, 0.5), 98);
  assert.equal(keptPatchCount(196, 0.75), 49);
  assert.equal(keptPatchCount(16, 0.7), 4, "⌊4.8⌋");
  assert.equal(keptPatchCount(10, 0.3), 7);
  // Python's int() of the float64 product, as open_clip and timm: 100 · (1 − 0.8) is 19.99…96.
  assert.equal(keptPatchCount(100, 0.8), 19);
  assert.equal(keptPatchCount(400, 0.8), 79);
  assert.equal(keptPatchCount(100, 0.9), 9);
  assert.equal(keptPatchCount(3, 0.9), 1, "at least one");
  assert.equal(keptPatchCount(49, 0), 49);
  assert.throws(() => keptPatchCount(10, 1), /rate must be in \[0, 1\), got 1/);
  assert.throws(() => keptPatchCount(10, -0.1), /got -0\.1/);
});

Deno.test("patch dropout's subsets: ascending, distinct, in range, drawn per image, input and seed", () => {
  const rows = 4000, patches = 49, keep = 12;
  const kept = keptPatchIndices(rows, patches, keep, 42);
  const counts = new Float64Array(patches);
  const rowsSeen = new Set<string>();
  for (let r = 0; r < rows; r++) {
    const row = kept.subarray(r * keep, (r + 1) * keep);
    for (let k = 0; k < keep; k++) {
      assert.ok(row[k]! >= 0 && row[k]! < patches);
      if (k > 0) assert.ok(row[k]! > row[k - 1]!, "ascending and distinct");
      counts[row[k]!]!++;
    }
    rowsSeen.add(row.join());
  }
  assert.ok(rowsSeen.size > rows * 0.99, "images draw their own subsets");
  // Each patch is kept with probability keep/patches: binomial counts within 5 σ.
  const p = keep / patches, mean = rows * p, sigma = Math.sqrt(rows * p * (1 - p));
  for (const c of counts) assert.ok(Math.abs(c - mean) < 5 * sigma, `${c} vs ${mean} ± ${sigma}`);
  assert.deepEqual(keptPatchIndices(rows, patches, keep, 42), kept, "a pure function of the seed");
  assert.notDeepEqual(keptPatchIndices(2, patches, keep, 43), kept.subarray(0, 2 * keep));
  assert.notDeepEqual(keptPatchIndices(2, patches, keep, 42, 1), kept.subarray(0, 2 * keep));
});

/** `dropPatches` on the active backend: the kept tokens and the gradient of `Σ out ⊙ w`. */
async function dropped(tokens: number[], shape: [number, number, number], w: number[]) {
  const x = tf.tensor3d(tokens, shape);
  const grad = tf.grad((t: tf.Tensor) => {
    const out = dropPatches(t as tf.Tensor3D, 2, 0.6, 7);
    return tf.sum(tf.mul(out, tf.tensor(w, out.shape)));
  })(x);
  const out = tf.tidy(() => dropPatches(x as tf.Tensor3D, 2, 0.6, 7));
  const result = {
    out: [...await out.data()],
    shape: out.shape,
    grad: [...await grad.data()],
  };
  tf.dispose([x, out, grad]);
  return result;
}

const skip = await webgpuSkipReason();

Deno.test({
  name:
    "dropPatches: the prefix and the kept patches, and the scatter back as gradient (CPU, WASM, WebGPU)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    // 3 images of 2 prefix tokens and 7 patches (keep ⌊2.8⌋ = 2), width 5.
    const rows = 3, prefix = 2, patches = 7, dim = 5, keep = 2, width = prefix + keep;
    const tokens = Array.from({ length: rows * (prefix + patches) * dim }, (_, i) => i * 0.5 - 9);
    const w = Array.from({ length: rows * width * dim }, (_, i) => Math.sin(i + 1));
    const kept = keptPatchIndices(rows, patches, keep, 7);
    const expectedOut: number[] = [], expectedGrad = new Array(tokens.length).fill(0);
    for (let r = 0; r < rows; r++) {
      const sources = [0, 1, ...[...kept.subarray(r * keep, (r + 1) * keep)].map((k) => k + 2)];
      sources.forEach((t, k) => {
        for (let d = 0; d < dim; d++) {
          const from = (r * (prefix + patches) + t) * dim + d;
          expectedOut.push(tokens[from]!);
          expectedGrad[from] = w[(r * width + k) * dim + d]!;
        }
      });
    }
    const backends: (() => Promise<unknown>)[] = [
      () => tf.setBackend("cpu"),
      () => initBackend("wasm"),
    ];
    if (skip === null) backends.push(useNovalabWebGpu);
    for (const activate of backends) {
      await activate();
      const got = await dropped(tokens, [rows, prefix + patches, dim], w);
      assert.deepEqual(got.shape, [rows, width, dim], tf.getBackend());
      assert.deepEqual(got.out, expectedOut, `${tf.getBackend()} values`);
      assertClose(got.grad, expectedGrad, `${tf.getBackend()} gradient`);
    }
  },
});

Deno.test("dropPatches at rate 0, or where every patch is kept anyway, is the input", () => {
  const x = tf.ones([2, 3, 4]) as tf.Tensor3D;
  assert.equal(dropPatches(x, 1, 0, 0), x);
  assert.equal(dropPatches(x, 2, 0.4, 0), x, "one patch: max(1, ⌊0.6⌋) keeps it");
  x.dispose();
});

Deno.test("patch dropout with until: dropped before that training phase, every patch from it", async () => {
  await tf.setBackend("cpu");
  const config = { patch: 4, dim: 16, depth: 2, heads: 2, mlpRatio: 2 };
  const vit = new VisionTransformer(
    { ...config, patchDropout: 0.5, patchDropoutUntil: 30 },
    { height: 8, width: 8, channels: 1 },
    { name: "v", seed: 3 },
  );
  assert.deepEqual(vit.changesAt, [30], "a training phase starts where the dropout ends");
  tf.tidy(() => {
    const images = tf.randomUniform([4, 8, 8, 1], 0, 1, "float32", 5);
    const at = (ctx: { training: boolean; phase?: number }) =>
      (vit.forward([images], { ...ctx, step: 0, seed: 1 }) as tf.Tensor).dataSync();
    const clean = at({ training: false });
    assert.deepEqual(at({ training: true, phase: 30 }), clean, "from step 30: every patch");
    assert.notDeepEqual(at({ training: true, phase: 0 }), clean, "before: half of them");
    assert.notDeepEqual(at({ training: true }), clean, "a dry run drops (phase 0)");
  });
  vit.dispose();
});
