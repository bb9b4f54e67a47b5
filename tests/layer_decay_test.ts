/**
 * `nodes.<name>.layer_decay`: on the shipped NOVA recipe, one AdamW step moves
 * each ViT parameter by `lr · lr_scale · k^(top − layer)` (Adam's first step is
 * `lr · g/(|g| + ε)`, ε tiny here, so the largest move of a tensor is its rate), the heads at
 * `lr`; and a decay that cannot apply is a located error before training.
 */
import assert from "node:assert/strict";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe, runRecipe } from "../core/run.ts";
import { decodeSafetensors } from "../core/safetensors.ts";
import { initBackend } from "../core/backend.ts";
import { mnistDirOverride, seedTextCache } from "./offline_data.ts";

const LR = 0.01;

/** `recipes/nova.yaml` for one step at a constant rate without weight decay. */
function nova(overrides: string[]) {
  return loadRunnable("recipes/nova.yaml", [
    ...mnistDirOverride(),
    "data.limit.train=64",
    "data.limit.test=32",
    "train.steps=1",
    "train.batch=16",
    "train.checkpoint_every=0",
    "train.schedule.kind=constant",
    `train.optimizer.lr=${LR}`,
    "train.optimizer.weight_decay=0",
    // Gradients the heads' batch norm cancels (the final norm's bias) are ~1e-9: ε must not damp them.
    "train.optimizer.eps=1e-20",
    ...overrides,
  ]);
}

/** The rate MAE's `get_layer_id_for_vit` and `param_groups_lrd` give a tiny ViT (depth 4) parameter. */
function maeRate(name: string, lrScale: number, decay: number): number {
  const own = name.slice("image.".length);
  const block = /^blocks\.(\d+)\./.exec(own);
  const layer = block
    ? Number(block[1]) + 1
    : /^(cls_token|pos_embed|patch_embed)/.test(own)
    ? 0
    : 5;
  return lrScale * decay ** (5 - layer);
}

Deno.test({
  name: "layer decay: one AdamW step moves each ViT layer at lr · lr_scale · k^(top − layer)",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-layer-decay-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const recipe = await nova(["nodes.image.layer_decay=0.5", "nodes.image.lr_scale=0.5"]);
    assert.match(recipe.yaml, /lr_scale: 0\.5\n\s+layer_decay: 0\.5/);
    const built = await buildRecipe(recipe, `${dir}/cache`);
    const start = new Map<string, Float32Array>();
    for (const p of built.graph.parameters()) {
      start.set(p.name, p.variable.dataSync() as Float32Array);
      const rate = p.name.startsWith("image.") ? maeRate(p.name, 0.5, 0.5) : 1;
      assert.equal(p.lrScale ?? 1, rate, p.name);
    }
    assert.ok(start.size > 40);
    built.graph.dispose();
    built.source.dispose();

    const run = await runRecipe(recipe, {
      runsDir: dir,
      cacheDir: `${dir}/cache`,
      quiet: true,
      skipEval: true,
      skipReport: true,
    });
    const { tensors } = decodeSafetensors(
      await Deno.readFile(`${run.paths.checkpoints}/model.safetensors`),
    );
    const rates = new Set<number>();
    for (const [name, before] of start) {
      const after = tensors.get(name)!.data as Float32Array;
      const moved = Math.max(...before.map((x, i) => Math.abs(after[i]! - x)));
      const rate = name.startsWith("image.") ? maeRate(name, 0.5, 0.5) : 1;
      rates.add(rate);
      assert.ok(
        Math.abs(moved / LR - rate) < 1e-3 * rate,
        `${name}: moved ${moved / LR}·lr, expected ${rate}·lr`,
      );
    }
    assert.deepEqual([...rates].sort(), [0.015625, 0.03125, 0.0625, 0.125, 0.25, 0.5, 1]);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name:
    "layer decay: on a node without layers, a frozen one or out of (0, 1] it is a located error",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-layer-decay-bad-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    await assert.rejects(
      async () => buildRecipe(await nova(["nodes.pred.layer_decay=0.7"]), `${dir}/cache`),
      /--set nodes\.pred\.layer_decay=0\.7: nodes\.pred\.layer_decay: mlp has no stack of layers for layer_decay: 0\.7 to decay over; expected a transformer node \(vit, text_transformer\) such as image in this recipe, or lr_scale/,
    );
    await assert.rejects(
      async () => buildRecipe(await nova(["nodes.views.layer_decay=0.7"]), `${dir}/cache`),
      /nodes\.views\.layer_decay: views has no trainable parameters: layer_decay: 0\.7 changes nothing/,
    );
    await assert.rejects(
      () => nova(["nodes.image.layer_decay=0.7", "nodes.image.freeze=true"]),
      /nodes\.image\.layer_decay: invalid value 0\.7\n {2}expected no layer_decay on a frozen node/,
    );
    for (const value of ["1.5", "0", "-0.5"]) {
      await assert.rejects(
        () => nova([`nodes.image.layer_decay=${value}`]),
        /nodes\.image\.layer_decay: invalid value .*\n {2}expected a number (<= 1|> 0)/,
      );
    }
    const plain = await nova(["nodes.image.layer_decay=1"]);
    assert.doesNotMatch(plain.yaml, /layer_decay/, "k = 1 is no decay: left out of recipe.yaml");
    await Deno.remove(dir, { recursive: true });
  },
});
