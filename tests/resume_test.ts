/**
 * Resume equivalence: a run interrupted after step 3 and resumed from its
 * checkpoint logs exactly the per-step losses of an uninterrupted run with the
 * same seed (data order, augmentation and SIGReg directions all derive from
 * the seed and the step).
 */
import assert from "node:assert/strict";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { runRecipe } from "../core/run.ts";
import { readMetrics } from "../core/rundir.ts";

const TINY = [
  "data.limit={ train: 256, test: 64 }",
  "train.steps=6",
  "train.batch=16",
  "train.log_every=1",
  "train.checkpoint_every=0",
  "train.schedule.warmup=2",
  "nodes.image.depth=1",
  "nodes.pred.layers=[32, 16]",
  "vars.dim=16",
  "losses[1].slices=32",
];

Deno.test({
  name: "resume: interrupted + resumed run logs the same per-step losses as an uninterrupted one",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runs = await Deno.makeTempDir({ prefix: "novalab-resume-" });
    const recipe = await loadRunnable("recipes/nova.yaml", TINY);
    const options = {
      runsDir: runs,
      backend: "wasm" as const,
      quiet: true,
      skipEval: true,
      skipReport: true,
    };
    const whole = await runRecipe(recipe, options);
    const first = await runRecipe(recipe, { ...options, stopAfter: 3 });
    assert.equal(first.steps, 3);
    assert.equal(first.finished, false);
    const resumed = await runRecipe(recipe, { ...options, resume: first.paths.root });
    assert.equal(resumed.steps, 6);
    const a = await readMetrics(whole.paths);
    const b = await readMetrics(resumed.paths);
    assert.equal(a.length, 6);
    assert.deepEqual(b.map((m) => m.step), [0, 1, 2, 3, 4, 5]);
    assert.deepEqual(b.map((m) => m.loss), a.map((m) => m.loss), "per-step losses identical");
    assert.deepEqual(b.map((m) => m.terms), a.map((m) => m.terms));

    // Another recipe is refused before anything loads, naming what differs; so is a
    // checkpoint past the steps (it ended silently unfinished). A run made before data.json
    // existed gains it when resumed, and not from a resume that is refused.
    const facts = `${first.paths.root}/data.json`;
    const written = await Deno.readTextFile(facts);
    await Deno.remove(facts);
    const other = await loadRunnable("recipes/nova.yaml", [
      ...TINY,
      "train.optimizer.lr=0.5",
      "data.classes=[o, i, ii, iii, iv, v, vi, vii, viii, ix]",
    ]);
    await assert.rejects(
      () => runRecipe(other, { ...options, resume: first.paths.root }),
      /step-00000\d\.safetensors: the resuming recipe differs .* at .*train\.optimizer\.lr: 0\.001 → 0\.5/,
    );
    await assert.rejects(() => Deno.stat(facts), Deno.errors.NotFound);
    const shorter = await loadRunnable("recipes/nova.yaml", [...TINY, "train.steps=2"]);
    await assert.rejects(
      () => runRecipe(shorter, { ...options, resume: first.paths.root }),
      /train\.steps: 6 → 2/,
    );
    // Evaluation and cadence may change: the run resumes.
    const cadence = await loadRunnable("recipes/nova.yaml", [...TINY, "train.log_every=2"]);
    const again = await runRecipe(cadence, { ...options, resume: first.paths.root });
    assert.equal(again.steps, 6);
    assert.equal(await Deno.readTextFile(facts), written);
    await Deno.remove(runs, { recursive: true });
  },
});
