/**
 * Every shipped recipe validates, compiles (dry run on real data), trains a
 * few steps on a tiny slice with a finite loss and no tensor leak, and its
 * inference graph runs. The full ablation matrix (issue 7) extends this.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe, defaultCacheDir } from "../core/run.ts";
import { Trainer } from "../core/trainer.ts";

const TINY = [
  "data.limit={ train: 128, test: 32 }",
  "train.batch=16",
  "train.steps=4",
  "train.schedule.warmup=1",
];

const recipes = [...Deno.readDirSync("recipes")]
  .filter((e) => e.isFile && e.name.endsWith(".yaml"))
  .map((e) => `recipes/${e.name}`)
  .sort();

Deno.test("recipes: at least NOVA and CLIP ship", () => {
  assert.ok(recipes.includes("recipes/nova.yaml") && recipes.includes("recipes/clip.yaml"));
});

for (const path of recipes) {
  Deno.test({
    name: `recipes: ${path} opens with paper/expectation/command, builds and trains 4 steps`,
    sanitizeResources: false,
    sanitizeOps: false,
    async fn() {
      const text = await Deno.readTextFile(path);
      if (/^# Test: /m.test(text)) {
        // Needs credentialed data (e.g. MIMIC-CXR): the test named in its header trains it
        // end to end on a generated fixture instead.
        return;
      }
      for (const word of ["arXiv", "Expect", "Run: deno task run " + path]) {
        assert.ok(text.includes(word), `${path} header must mention "${word}"`);
      }
      await initBackend("wasm");
      const recipe = await loadRunnable(path, TINY);
      // One transformer block per ViT keeps the 4 steps cheap.
      for (const node of recipe.graph.nodes) {
        if (node.kind === "vit") (node.params as { depth: number }).depth = 1;
      }
      const { graph, source } = await buildRecipe(recipe, defaultCacheDir());
      const trainer = new Trainer(graph, source, { config: recipe.train, seed: recipe.seed });
      const losses: number[] = [];
      let tensors = 0;
      for (let step = 0; step < 4; step++) {
        losses.push((await trainer.step(step)).loss);
        if (step === 1) tensors = tf.memory().numTensors;
        if (step > 1) assert.equal(tf.memory().numTensors, tensors, "tensor count grew");
      }
      assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
      await trainer.close();
      const evalTarget = (recipe.eval[0]?.params as { image?: string })?.image;
      if (evalTarget) {
        const batch = await source.batch("test", 0, {
          batchSize: 4,
          seed: 0,
          shuffle: false,
          dropLast: false,
        });
        const out = await graph.inference({ seed: 0 }).run(evalTarget, { image: batch.image });
        assert.equal(out.shape.at(-2), 4);
        tf.dispose([out, batch.image]);
      }
      graph.dispose();
      source.dispose();
    },
  });
}
