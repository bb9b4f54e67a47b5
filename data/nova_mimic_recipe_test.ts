/**
 * recipes/nova_mimic.yaml end to end on a generated MIMIC-CXR-shaped tree and
 * a tiny BERT folder standing in for Bio_ClinicalBERT: the recipe validates,
 * builds (mimic_cxr source, ViT-S/16 narrowed to one block, hf_text tower) and
 * trains two steps with finite losses, then runs its evaluation (zero-shot
 * multi-label AUROC from the CheXpert labels). Needs --allow-ffi (sharp, onnxruntime).
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import "../core/builtins.ts";
import { initBackend } from "../core/backend.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe, evaluateRecipe } from "../core/run.ts";
import { Trainer } from "../core/trainer.ts";
import { writeTinyBertFolder } from "../models/tiny_hf_model.ts";
import type { FileBackedSource } from "./file_source.ts";
import {
  MIMIC_FIXTURE_PHRASES,
  mimicFixtureStudies,
  novaMimicFixtureOverrides,
  writeMimicFixture,
} from "./fixtures.ts";

const FFI = (await Deno.permissions.query({ name: "ffi" })).state === "granted";
Deno.test({
  name: "nova_mimic: the recipe trains end to end on a MIMIC-shaped fixture",
  ignore: !FFI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab_nova_mimic_" });
    try {
      await writeMimicFixture(`${dir}/mimic`, mimicFixtureStudies(24));
      const words = [...new Set(MIMIC_FIXTURE_PHRASES.join(" ").replace(/\./g, " .").split(/\s+/))];
      await writeTinyBertFolder(`${dir}/models/tiny-bert`, { words, hidden: 16 });
      const text = await Deno.readTextFile("recipes/nova_mimic.yaml");
      for (const word of ["arXiv", "Expect", "Run: deno task run recipes/nova_mimic.yaml"]) {
        assert.ok(text.includes(word), `header must mention "${word}"`);
      }
      await initBackend("wasm");
      const recipe = await loadRunnable("recipes/nova_mimic.yaml", [
        ...novaMimicFixtureOverrides(dir),
        "train.steps=2",
        "eval[0].split=val", // the fixture's val studies hold a positive and a negative Edema
        "eval[0].bootstrap=0",
      ]);
      const { source, graph } = await buildRecipe(recipe, `${dir}/cache`);
      // 24 frontal images; study 3 has no report; 4 validate/test → 19 train.
      assert.deepEqual(source.splits, { train: { size: 19 }, val: { size: 2 }, test: { size: 2 } });
      const trainer = new Trainer(graph, source, { config: recipe.train, seed: recipe.seed });
      const losses: number[] = [];
      for (let step = 0; step < 2; step++) losses.push((await trainer.step(step)).loss);
      assert.ok(losses.every(Number.isFinite), `losses ${losses}`);
      await trainer.close();
      const bad = (source as FileBackedSource).badInputs();
      assert.deepEqual(bad.by_reason, { missing_file: 1 });
      assert.match(bad.first[0]!.path, /p10\/p10000003\/s50000003\.txt$/);
      const batch = await source.batch("test", 0, {
        batchSize: 2,
        seed: 0,
        shuffle: false,
        dropLast: false,
      });
      const out = await graph.inference({ seed: 0 }).run("pred", { image: batch.image });
      assert.deepEqual(out.shape, [1, 2, 64]);
      tf.dispose([out, batch.image]);
      // The recipe's eval: zero-shot multi-label AUROC from the batches' CheXpert labels.
      const metrics = (await evaluateRecipe(recipe, graph, source)).zero_shot_binary!;
      assert.equal(metrics.n, 2);
      assert.equal(metrics["positives/Edema"], 1);
      assert.ok(metrics["auroc/Edema"]! >= 0 && metrics["auroc/Edema"]! <= 1);
      graph.dispose();
      source.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
