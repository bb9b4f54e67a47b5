/**
 * FLIP's patch dropout and stochastic depth through short runs of
 * recipes/flip.yaml: a WASM run trains (and its evaluation sees every
 * patch); on WebGPU the replayed step draws its own subsets and masks, so its
 * checkpoint equals the step issued as written bit for bit (a replay that
 * reused the recorded step's draws would differ), also across the start of
 * unmasked tuning (`patch_dropout: { rate, until }`); a `vit` whose tokens other
 * nodes read refuses patch dropout, naming the node and the way out.
 */
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { buildRecipe, runRecipe } from "../core/run.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { mnistDirOverride, seedTextCache } from "./offline_data.ts";
import { replayedCheckpoints, tinyRecipe } from "./tiny_runs.ts";

/** Two blocks (stochastic depth draws in the second), a 32-wide embedding. */
const TINY = ["vars.dim=32", "nodes.image.depth=2", "nodes.image.drop_path=0.5"];

Deno.test({
  name: "flip: a short WASM run with patch dropout and drop path trains and evaluates",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-flip-" });
    try {
      await seedTextCache(`${dir}/cache`);
      await initBackend("wasm");
      const recipe = await tinyRecipe("recipes/flip.yaml", [...TINY, "train.steps=4"]);
      const image = recipe.graph.nodes.find((n) => n.name === "image")!;
      assert.equal((image.params as { patch_dropout?: number }).patch_dropout, 0.5);
      const run = await runRecipe(recipe, {
        runsDir: dir,
        cacheDir: `${dir}/cache`,
        quiet: true,
        skipReport: true,
      });
      assert.equal(run.steps, 4);
      assert.ok(run.finished);
      const top1 = run.eval.zero_shot?.top1;
      assert.ok(typeof top1 === "number" && top1 >= 0 && top1 <= 1, `top-1 ${top1}`);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

Deno.test({
  name: "flip: a vit read as tokens (ITO's fusion) refuses patch dropout",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-flip-tokens-" });
    try {
      await seedTextCache(`${dir}/cache`);
      await initBackend("wasm");
      const recipe = await loadRunnable("recipes/ito.yaml", [
        ...mnistDirOverride(),
        "nodes.image_tokens.patch_dropout=0.5",
      ]);
      await assert.rejects(
        buildRecipe(recipe, `${dir}/cache`),
        /node "image_tokens" \(vit\): patch_dropout 0\.5 with output: tokens would give training and inference different token counts; use output: cls/,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});

const skip = await webgpuSkipReason();
Deno.test({
  name: "flip: on WebGPU the replayed steps draw their own patches and masks (bit for bit)",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Unmasked tuning from step 4: a new training phase, its step recorded afresh.
    const recipe = await tinyRecipe("recipes/flip.yaml", [
      ...TINY,
      "nodes.image.patch_dropout={ rate: 0.5, until: 4 }",
      "train.steps=10",
      "train.checkpoint_every=0",
    ]);
    const { written, replayed } = await replayedCheckpoints(recipe, 10, "image.");
    assert.ok(written.size > 10);
    assert.deepEqual(replayed, written, "replayed = as written");
  },
});

Deno.test("flip: patch_dropout's until must come before train.steps", async () => {
  await assert.rejects(
    loadRunnable("recipes/flip.yaml", [
      ...mnistDirOverride(),
      "nodes.image.patch_dropout={ rate: 0.5, until: 600 }",
    ]),
    /nodes\.image\.patch_dropout\.until: invalid value 600\n\s+expected a step before train\.steps \(600\): no step would see every patch/,
  );
});
