/**
 * Multi-crop through one ViT (`models/vit.ts`, `models/pos_resample.ts`):
 * the resampling map is tfjs's half-pixel bilinear resize (PyTorch's
 * `align_corners=False`); local views come out as a ViT built for their size
 * would give them with the resampled position embeddings, and their gradient
 * reaches the learned grid through the map's transpose; inference encodes
 * the first input only; the factory names bad inputs.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { VisionTransformer } from "./vit.ts";
import { bilinearResampleMatrix } from "./pos_resample.ts";
import { modelEntries } from "./entries.ts";
import { assertClose } from "../kernels/testing.ts";

const config = { patch: 2, dim: 8, depth: 1, heads: 2, mlpRatio: 2 };
const train = { training: true, step: 0, seed: 0 };

Deno.test("bilinearResampleMatrix: tfjs's half-pixel bilinear resize, rows summing to 1", async () => {
  await tf.setBackend("cpu");
  const pairs: [[number, number], [number, number]][] = [
    [[4, 4], [2, 2]],
    [[4, 4], [3, 3]],
    [[3, 3], [5, 5]],
    [[2, 3], [4, 1]],
    [[7, 7], [3, 3]],
    [[5, 5], [5, 5]],
  ];
  for (const [from, to] of pairs) {
    const map = bilinearResampleMatrix(from, to);
    const grid = tf.randomNormal([from[0], from[1], 3], 0, 1, "float32", 7);
    const resized = tf.image.resizeBilinear(grid as tf.Tensor3D, to, false, true);
    const viaMap = tf.matMul(
      tf.tensor2d(map, [to[0] * to[1], from[0] * from[1]]),
      grid.reshape([-1, 3]),
    );
    assertClose(await viaMap.data(), await resized.data(), `${from} → ${to}`, {
      atol: 1e-6,
      rtol: 1e-6,
    });
    for (let r = 0; r < to[0] * to[1]; r++) {
      const sum = map.subarray(r * from[0] * from[1], (r + 1) * from[0] * from[1])
        .reduce((a, b) => a + b, 0);
      assert.ok(Math.abs(sum - 1) < 1e-6, `${from} → ${to} row ${r} sums to ${sum}`);
    }
  }
  assert.deepEqual(
    Array.from(bilinearResampleMatrix([2, 2], [2, 2])),
    [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1],
  );
  assert.throws(() => bilinearResampleMatrix([0, 2], [2, 2]), /positive integers, got 0/);
});

/** A ViT for `[8, 8]` globals and `[4, 4]` locals, and one built for `[4, 4]` with its weights. */
function twins(): { multi: VisionTransformer; local: VisionTransformer } {
  const geometry = { height: 8, width: 8, channels: 1 };
  const multi = new VisionTransformer(config, geometry, {
    name: "v",
    seed: 3,
    others: [{ height: 4, width: 4 }],
  });
  const local = new VisionTransformer(config, { ...geometry, height: 4, width: 4 }, {
    name: "v",
    seed: 9,
  });
  const map = tf.tensor2d(bilinearResampleMatrix([4, 4], [2, 2]), [4, 16]);
  multi.parameters.forEach((p, i) => {
    const target = local.parameters[i]!;
    assert.equal(target.name, p.name);
    if (!p.name.endsWith("pos_embed")) return target.variable.assign(p.variable);
    const pos = p.variable.reshape([17, 8]);
    const grid = tf.matMul(map, tf.slice(pos, [1, 0], [-1, -1]));
    target.variable.assign(tf.concat([tf.slice(pos, [0, 0], [1, -1]), grid]).reshape([1, 5, 8]));
  });
  return { multi, local };
}

Deno.test("vit multi-crop: local views as a ViT of their size with the resampled positions", async () => {
  await tf.setBackend("cpu");
  const { multi, local } = twins();
  const globals = tf.randomUniform([2, 3, 8, 8, 1], 0, 1, "float32", 1);
  const locals = tf.randomUniform([4, 3, 4, 4, 1], 0, 1, "float32", 2);
  const out = multi.forward([globals, locals], train) as tf.Tensor;
  assert.deepEqual(out.shape, [6, 3, 8]);
  const alone = multi.forward([globals], train) as tf.Tensor;
  assert.deepEqual(await tf.slice(out, [0, 0, 0], [2, -1, -1]).data(), await alone.data());
  const viaTwin = local.forward([locals], train) as tf.Tensor;
  assertClose(await tf.slice(out, [2, 0, 0], [4, -1, -1]).data(), await viaTwin.data(), "locals", {
    atol: 1e-5,
    rtol: 1e-5,
  });
  // Inference: the first input only (view 0 is what evaluation reads).
  const inference = multi.forward([globals, locals], { ...train, training: false }) as tf.Tensor;
  assert.deepEqual(inference.shape, [2, 3, 8]);
  multi.dispose();
  local.dispose();
});

Deno.test("vit multi-crop: the locals' gradient reaches the learned grid through the map", async () => {
  await tf.setBackend("cpu");
  const { multi, local } = twins();
  const globals = tf.randomUniform([1, 2, 8, 8, 1], 0, 1, "float32", 4);
  const locals = tf.randomUniform([2, 2, 4, 4, 1], 0, 1, "float32", 5);
  const weights = tf.randomNormal([2, 2, 8], 0, 1, "float32", 6);
  const pos = (vit: VisionTransformer) => vit.parameters.find((p) => p.name === "v.pos_embed")!;
  const localLoss = (vit: VisionTransformer, twin: boolean) => () => {
    const out = twin ? vit.forward([locals], train) as tf.Tensor : tf.slice(
      vit.forward([globals, locals], train) as tf.Tensor,
      [1, 0, 0],
      [2, -1, -1],
    );
    return tf.sum(tf.mul(out, weights)) as tf.Scalar;
  };
  const gMulti = tf.variableGrads(localLoss(multi, false), [pos(multi).variable]).grads;
  const gTwin = tf.variableGrads(localLoss(local, true), [pos(local).variable]).grads;
  const dMulti = gMulti[pos(multi).variable.name]!.reshape([17, 8]);
  const dTwin = gTwin[pos(local).variable.name]!.reshape([5, 8]);
  const map = tf.tensor2d(bilinearResampleMatrix([4, 4], [2, 2]), [4, 16]);
  const expectedGrid = tf.matMul(map, tf.slice(dTwin, [1, 0], [-1, -1]), true, false);
  assertClose(await tf.slice(dMulti, [1, 0], [-1, -1]).data(), await expectedGrid.data(), "grid", {
    atol: 1e-5,
    rtol: 1e-4,
  });
  assertClose(
    await tf.slice(dMulti, [0, 0], [1, -1]).data(),
    await tf.slice(dTwin, [0, 0], [1, -1]).data(),
    "cls",
    {
      atol: 1e-5,
      rtol: 1e-4,
    },
  );
  multi.dispose();
  local.dispose();
});

Deno.test("vit entry: multi-crop inputs are checked and named", () => {
  const entry = modelEntries.find((e) => e.kind === "vit")!;
  const params = entry.schema.parse({ preset: "tiny" });
  const build = (inputShapes: number[][], extra: object = {}) =>
    entry.create({ ...(params as object), ...extra }, {
      name: "image",
      inputShapes,
      seed: 1,
      cacheDir: "",
    });
  assert.throws(
    () => build([[2, -1, 28, 28, 1], [-1, 14, 14, 1]]),
    /input 2 expects images \[V, B, H, W, C\] \(a views node: multi-crop\), got \[-1, 14, 14, 1\]/,
  );
  assert.throws(
    () => build([[2, -1, 28, 28, 1], [4, -1, 12, 12, 1]]),
    /input 2: image 12×12 is not divisible by patch 7/,
  );
  assert.throws(
    () => build([[2, -1, 28, 28, 1], [4, -1, 14, 14, 3]]),
    /input 2: 3 channels, but input 1 has 1/,
  );
  assert.throws(
    () => build([[2, -1, 28, 28, 1], [4, -1, 14, 14, 1]], { output: "tokens" }),
    /output: tokens needs every input at one size .* got 28×28, 14×14/,
  );
  assert.throws(() => build([]), /expects images \[\.\.\., H, W, C\]; give it an input/);
  const ok = build([[2, -1, 28, 28, 1], [4, -1, 14, 14, 1]]) as VisionTransformer;
  assert.ok(ok instanceof VisionTransformer);
  ok.dispose();
});
