/**
 * Patch dropout and stochastic depth against PyTorch (`tests/timm_reference.ts`,
 * timm's ViT with `PatchDropout`'s indexing and `DropPath`'s per-sample
 * factors applied as timm applies them): given the subsets and factors
 * novalab draws from a step seed, PyTorch's training-mode features equal
 * novalab's; evaluation sees every patch and branch. Skipped with a message
 * without a Python that has torch.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { keptPatchCount, keptPatchIndices } from "../models/patch_dropout.ts";
import { dropPathRates, dropPathScales } from "../models/drop_path.ts";
import {
  BATCH,
  D,
  DEPTH,
  encoderFeatures,
  PATCH,
  SIZE,
  timmEncoder,
  timmReference,
  torchPython,
  worst,
} from "./timm_reference.ts";

const { python, why } = await torchPython();
if (why) console.warn(`tests/timm_train_noise_test.ts skipped: ${why}`);

const PATCHES = (SIZE / PATCH) ** 2;

/** The kept patches per image and the factors per block of `seed`, as the reference reads them. */
function draws(seed: number, rate: number, dropPath: number) {
  const keep = keptPatchCount(PATCHES, rate);
  const flat = keptPatchIndices(BATCH, PATCHES, keep, seed);
  const kept = Array.from({ length: BATCH }, (_, b) => [...flat.slice(b * keep, (b + 1) * keep)]);
  const scales = dropPathRates(dropPath, DEPTH).map((p, block) =>
    ([0, 1] as const).map((branch) =>
      p === 0 ? Array(BATCH).fill(1) : [...dropPathScales(BATCH, p, seed, block, branch)]
    )
  );
  return { kept, scales };
}

Deno.test({
  name: "patch dropout and drop path: novalab's training features are timm's with the same draws",
  ignore: python === undefined,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-timm-noise-" });
    try {
      // A step seed whose last block keeps some images' branches and drops others'.
      let seed = 0;
      while (new Set(draws(seed, 0.5, 0.5).scales[DEPTH - 1]!.flat()).size < 2) seed++;
      const { kept, scales } = draws(seed, 0.5, 0.5);
      assert.equal(kept[0]!.length, 8, "⌊16 · 0.5⌋ of 16 patches");
      const file = `${dir}/vit.safetensors`;
      const torch = await timmReference(python!, file, {
        reg_tokens: 1,
        keep: kept,
        drop_scales: scales,
      });
      await initBackend("cpu");
      const graph = await timmEncoder({ path: file, layout: "timm" }, {
        cacheDir: dir,
        extra: { registers: 1, patch_dropout: 0.5, drop_path: 0.5 },
      });
      const encoder = graph.modules.get("encoder")!;
      const training = tf.tidy(() => {
        const image = tf.tensor4d(torch.image, [BATCH, SIZE, SIZE, 3]);
        return encoder.forward([image], { training: true, step: 0, seed }) as tf.Tensor;
      });
      const trained = await training.data();
      training.dispose();
      assert.equal(trained.length, BATCH * D);
      assert.ok(worst(trained, torch.train) < 1e-4, `training: ${worst(trained, torch.train)}`);
      assert.ok(worst(trained, torch.cls) > 1e-2, "the draws matter");
      // Evaluation: every patch, every branch, unscaled.
      const evaluated = await encoderFeatures(graph, torch.image);
      assert.ok(worst(evaluated, torch.cls) < 1e-4, `evaluation: ${worst(evaluated, torch.cls)}`);
      graph.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
