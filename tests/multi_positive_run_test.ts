/**
 * UniCL's multi-positive targets (`groups` on `clip` and `siglip`) through
 * short runs of recipes/clip_unicl.yaml and recipes/siglip.yaml. With one
 * caption template, captions and labels name the same groups, so positives
 * by caption (ids compared on the host, a host value) and by label (compared
 * on the device) train to the same weights; on WebGPU the replayed step, which
 * compares its own batch's captions, computes what the step as written does.
 */
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { type RunOptions, runRecipe } from "../core/run.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { seedTextCache } from "./offline_data.ts";
import { checkpointTensors, replayedCheckpoints, tinyRecipe } from "./tiny_runs.ts";

/** One template: caption i names label i's digit and nothing else. */
const ONE_TEMPLATE = ['data.captions=["the number {}."]', "vars.dim=16", "train.steps=3"];
const BY_CAPTION = "losses[0].inputs.groups=batch.caption";
const SIGLIP = [
  "losses[0].inputs.groups=batch.label",
  "nodes.image.depth=1",
];

async function lastCheckpoint(recipe: string, overrides: string[], options: RunOptions) {
  const run = await runRecipe(await tinyRecipe(recipe, [...ONE_TEMPLATE, ...overrides]), {
    ...options,
    skipEval: true,
    skipReport: true,
  });
  assert.equal(run.steps, 3);
  return checkpointTensors(`${run.paths.checkpoints}/step-000003.safetensors`);
}

Deno.test({
  name: "multi-positive: positives by caption and by label train alike when they coincide",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-unicl-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const options: RunOptions = { runsDir: dir, cacheDir: `${dir}/cache`, quiet: true };
    const byLabel = await lastCheckpoint("recipes/clip_unicl.yaml", [], options);
    const byCaption = await lastCheckpoint("recipes/clip_unicl.yaml", [BY_CAPTION], options);
    const oneHot = await lastCheckpoint("recipes/clip.yaml", [], options);
    for (const [k, v] of byLabel) {
      assert.ok(v.every(Number.isFinite), `${k} finite`);
      assert.deepEqual(byCaption.get(k), v, `${k}: caption groups = label groups`);
    }
    // Batches of 16 over 10 digits repeat labels: the targets, hence the weights, differ.
    const moved = [...byLabel].some(([k, v]) => v.some((x, i) => x !== oneHot.get(k)![i]));
    assert.ok(moved, "multi-positive training differs from one-hot CLIP");
    const siglip = await lastCheckpoint("recipes/siglip.yaml", SIGLIP, options);
    assert.ok([...siglip.values()].every((v) => v.every(Number.isFinite)), "siglip finite");
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "multi-positive: a groups input of the wrong shape is an error naming the loss and role",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-unicl-bad-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const recipe = await tinyRecipe("recipes/clip_unicl.yaml", [
      ...ONE_TEMPLATE,
      "losses[0].inputs.groups=image_proj",
    ]);
    await assert.rejects(
      () => runRecipe(recipe, { runsDir: dir, cacheDir: `${dir}/cache`, quiet: true }),
      // The compiler's dry run (batch 2) catches it before any training step.
      /clip_unicl\.yaml:\d+:5: losses\[0\]: clip failed on .*groups \[1, 2, 16\]: loss clip: input "groups" must be int32 ids \[2\] \(batch\.label\) or 2 strings \(batch\.caption\), got shape \[1, 2, 16\] float32/,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/multi_positive_run_test.ts WebGPU case skipped: ${skip}`);

Deno.test({
  name: "multi-positive: on WebGPU the replayed step compares its own batch's captions",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const recipe = await tinyRecipe("recipes/clip_unicl.yaml", [
      BY_CAPTION,
      "vars.dim=16",
      "train.steps=5",
      "train.checkpoint_every=0",
    ]);
    const { written, replayed } = await replayedCheckpoints(recipe, 5);
    for (const [k, v] of written) assert.deepEqual(replayed.get(k), v, `${k}: replayed = written`);
  },
});
