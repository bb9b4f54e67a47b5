/**
 * A run that diverges stops with a clear report: failure.json names the step
 * and the loss terms, and the last good parameters are kept as a checkpoint
 * that loads.
 */
import assert from "node:assert/strict";
import { loadCheckpoint } from "../core/checkpoint_load.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe, defaultCacheDir, runRecipe } from "../core/run.ts";

Deno.test({
  name: "nan guard: a diverging run writes failure.json and keeps a loadable last-good checkpoint",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runs = await Deno.makeTempDir({ prefix: "novalab-nan-" });
    const recipe = await loadRunnable("recipes/clip.yaml", [
      "data.limit={ train: 128, test: 32 }",
      "train.batch=16",
      "train.steps=20",
      "train.schedule=constant",
      "train.optimizer.lr=1e30",
      "train.clip_grad_norm=null",
      "nodes.image.depth=1",
    ]);
    let message = "";
    try {
      await runRecipe(recipe, { runsDir: runs, backend: "wasm", quiet: true });
    } catch (e) {
      message = (e as Error).message;
    }
    assert.match(message, /non-finite values at step (\d+)/);
    const [dir] = [...Deno.readDirSync(runs)].map((e) => `${runs}/${e.name}`);
    const failure = JSON.parse(await Deno.readTextFile(`${dir}/failure.json`));
    const step = Number(message.match(/step (\d+)/)![1]);
    assert.equal(failure.step, step);
    assert.ok("clip" in failure.report.terms, "report lists the loss terms");
    assert.match(failure.kept_checkpoint, new RegExp(`step-${String(step).padStart(6, "0")}`));
    const { graph, source } = await buildRecipe(recipe, defaultCacheDir());
    const loaded = await loadCheckpoint(failure.kept_checkpoint, { parameters: graph.state() });
    assert.equal(loaded.step, step);
    const values = await Promise.all(graph.parameters().map((p) => p.variable.data()));
    assert.ok(values.every((v) => v.every(Number.isFinite)), "kept parameters are finite");
    graph.dispose();
    source.dispose();
    await Deno.remove(runs, { recursive: true });
  },
});
