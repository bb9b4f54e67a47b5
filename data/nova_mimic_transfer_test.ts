/**
 * recipes/nova_mimic_transfer.yaml end to end on generated MIMIC-CXR-,
 * CheXpert- and ChestX-ray14-shaped data and a tiny BERT folder: the run trains
 * on MIMIC and scores all three zero-shot (`eval[i].data`), each with its own
 * labels; a finding the transfer source does not name stops the run before
 * training. Needs --allow-ffi (sharp, onnxruntime).
 */
import assert from "node:assert/strict";
import "../core/builtins.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { runRecipe } from "../core/run.ts";
import { writeTinyBertFolder } from "../models/tiny_hf_model.ts";
import {
  type ChestFixtureImage,
  MIMIC_FIXTURE_PHRASES,
  mimicFixtureStudies,
  novaMimicFixtureOverrides,
  writeChestXray14Fixture,
  writeChexpertFixture,
  writeMimicFixture,
} from "./fixtures.ts";

const FFI = (await Deno.permissions.query({ name: "ffi" })).state === "granted";

/** Five frontal images and one lateral; the last four are the ChestX-ray14 test list. */
const CHEST: ChestFixtureImage[] = [
  { findings: ["Edema"], value: 0.3 },
  { findings: ["Cardiomegaly", "Atelectasis"], value: 0.4 },
  { findings: [], value: 0.5, test: true },
  { findings: ["Consolidation"], value: 0.6, test: true },
  { findings: ["Edema", "Atelectasis", "Cardiomegaly"], value: 0.7, test: true },
  { findings: ["Consolidation"], value: 0.8, view: "Lateral", test: true },
];

async function fixture(dir: string): Promise<string[]> {
  await writeMimicFixture(`${dir}/mimic`, mimicFixtureStudies(24));
  const words = [...new Set(MIMIC_FIXTURE_PHRASES.join(" ").replace(/\./g, " .").split(/\s+/))];
  await writeTinyBertFolder(`${dir}/models/tiny-bert`, { words, hidden: 16 });
  // CheXpert spells it "Pleural Effusion", ChestX-ray14 "Effusion".
  const pleural = (name: string) =>
    CHEST.map((img, i) => i % 2 ? { ...img, findings: [...img.findings, name] } : img);
  await writeChexpertFixture(`${dir}/chexpert`, pleural("Pleural Effusion"));
  await writeChestXray14Fixture(`${dir}/cxr14`, pleural("Effusion"));
  return [
    ...novaMimicFixtureOverrides(dir),
    "train.steps=2",
    "eval[0].split=val", // the fixture's val studies hold a positive and a negative Edema
    `vars.chexpert=${dir}/chexpert/CheXpert-v1.0-small`,
    `vars.chestxray14=${dir}/cxr14`,
    "eval[1].data.size=32",
    "eval[2].data.size=32",
  ];
}

Deno.test({
  name: "nova_mimic_transfer: trains on MIMIC, scores MIMIC, CheXpert and ChestX-ray14",
  ignore: !FFI,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab_nova_transfer_" });
    try {
      const overrides = await fixture(dir);
      const recipe = await loadRunnable("recipes/nova_mimic_transfer.yaml", overrides);
      const options = {
        runsDir: `${dir}/runs`,
        cacheDir: `${dir}/cache`,
        backend: "wasm" as const,
        quiet: true,
        skipReport: true,
      };
      const { eval: metrics } = await runRecipe(recipe, options);
      assert.deepEqual(Object.keys(metrics), ["mimic_cxr", "chexpert", "chestxray14"]);
      // MIMIC: the two val studies. CheXpert: the five frontal images (the lateral filtered out).
      // ChestX-ray14: the four images of test_list.txt.
      assert.equal(metrics.mimic_cxr!.n, 2);
      assert.equal(metrics.chexpert!.n, 5);
      assert.equal(metrics.chestxray14!.n, 4);
      assert.equal(metrics.chexpert!["positives/Pleural Effusion"], 2);
      assert.equal(metrics.chestxray14!["positives/Effusion"], 2);
      assert.equal(metrics.chestxray14!["positives/Consolidation"], 2);
      for (const name of ["chexpert", "chestxray14"]) {
        const auroc = metrics[name]!.auroc!;
        assert.ok(auroc >= 0 && auroc <= 1, `${name} auroc ${auroc}`);
      }
      // A finding ChestX-ray14 does not name: refused before the first step, at its entry.
      const wrong = await loadRunnable("recipes/nova_mimic_transfer.yaml", [
        ...overrides,
        "eval[2].findings=[Pleural Effusion]",
      ]);
      await assert.rejects(
        runRecipe(wrong, { ...options, runsDir: `${dir}/runs2` }),
        (e: Error) => {
          assert.match(
            e.message,
            /--set eval\[2\]\.findings=\[Pleural Effusion\]: eval\[2\]\.findings: zero_shot_binary: finding "Pleural Effusion" is not a label of data source "chestxray14"; expected one of: Atelectasis, Cardiomegaly, Effusion/,
          );
          return true;
        },
      );
      await assert.rejects(Deno.stat(`${dir}/runs2`), Deno.errors.NotFound, "nothing trained");
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
