/**
 * `train.gradient_cache` through short runs of recipes/clip.yaml (batch-norm
 * heads, random crops): the first, off-tape pass leaves the batch norms'
 * running statistics to the second (after one step they equal the averaged
 * mode's, which encodes each micro-batch once); the losses and weights move
 * otherwise; a phase in which only the logit scale trains (the towers frozen
 * until a later step) trains; on WebGPU the replayed step equals the step
 * issued as written, also with caption groups (the joined captions are a host
 * input of the step).
 */
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { runRecipe } from "../core/run.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { seedTextCache } from "./offline_data.ts";
import { checkpointTensors, replayedCheckpoints, tinyRecipe } from "./tiny_runs.ts";

/** Two micro-batches of 8 per step. */
const MICRO = ["vars.dim=16", "train.batch=8", "train.accumulate=2"];
const CACHED = [...MICRO, "train.gradient_cache=true"];

Deno.test({
  name: "gradient cache: batch norms keep each micro-batch's statistics once; the update differs",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-gradcache-" });
    try {
      await seedTextCache(`${dir}/cache`);
      await initBackend("wasm");
      const options = {
        runsDir: dir,
        cacheDir: `${dir}/cache`,
        quiet: true,
        skipEval: true,
        skipReport: true,
      };
      const end = async (overrides: string[]) => {
        const recipe = await tinyRecipe("recipes/clip.yaml", [...overrides, "train.steps=1"]);
        const run = await runRecipe(recipe, options);
        return await checkpointTensors(`${run.paths.checkpoints}/step-000001.safetensors`);
      };
      const [cached, averaged] = [await end(CACHED), await end(MICRO)];
      const running = [...cached.keys()].filter((k) => k.includes("running"));
      assert.ok(running.length >= 4, running.join());
      for (const k of running) assert.deepEqual(cached.get(k), averaged.get(k), k);
      const weight = "image_proj.layers.1.weight";
      assert.notDeepEqual(cached.get(weight), averaged.get(weight), "the losses saw 16, not 8");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "gradient cache: a phase where only the logit scale trains (towers frozen until step 2)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-gradcache-frozen-" });
    try {
      await seedTextCache(`${dir}/cache`);
      await initBackend("wasm");
      const frozen = ["image", "image_proj", "text_proj"].map((n) =>
        `nodes.${n}.freeze={ until: 2 }`
      );
      const recipe = await tinyRecipe("recipes/clip.yaml", [...CACHED, ...frozen, "train.steps=4"]);
      const run = await runRecipe(recipe, {
        runsDir: dir,
        cacheDir: `${dir}/cache`,
        quiet: true,
        skipEval: true,
        skipReport: true,
      });
      assert.equal(run.steps, 4);
      assert.ok(run.finished);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const skip = await webgpuSkipReason();
Deno.test({
  name: "gradient cache: on WebGPU the replayed step equals the step as written (bit for bit)",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const recipe = await tinyRecipe("recipes/clip.yaml", [
      ...CACHED,
      "train.steps=5",
      "train.checkpoint_every=0",
    ]);
    const { written, replayed } = await replayedCheckpoints(recipe, 5);
    assert.ok(written.size > 10);
    assert.deepEqual(replayed, written, "replayed = as written");
  },
});

Deno.test({
  name: "gradient cache: caption groups replay on WebGPU (bit for bit)",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const recipe = await tinyRecipe("recipes/clip_unicl.yaml", [
      ...CACHED,
      "losses[0].inputs.groups=batch.caption",
      "train.steps=5",
      "train.checkpoint_every=0",
    ]);
    const { written, replayed } = await replayedCheckpoints(recipe, 5);
    assert.deepEqual(replayed, written, "replayed = as written");
  },
});

Deno.test({
  name:
    "gradient cache: momentum teachers' first-pass outputs reused on WebGPU replay (bit for bit)",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const recipe = await tinyRecipe("recipes/clip_momentum.yaml", [
      ...CACHED,
      "train.steps=5",
      "train.checkpoint_every=0",
    ]);
    const { written, replayed } = await replayedCheckpoints(recipe, 5);
    assert.deepEqual(replayed, written, "replayed = as written");
  },
});
