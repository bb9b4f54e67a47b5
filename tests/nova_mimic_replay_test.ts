/**
 * recipes/nova_mimic.yaml replayed on WebGPU: radiograph views with colour
 * jitter (`data/augment.ts`) and a transformers.js BERT tower (`hf_text`, a
 * tiny folder standing in for Bio_ClinicalBERT) on a generated MIMIC-CXR-shaped
 * tree — both per-step host data, both host values — train 7 steps with the
 * same losses, bit for bit, as the steps run as written. Before they were host
 * values the recordings differed and the step ran as written. Needs
 * --allow-ffi (sharp, onnxruntime); fallback adapter in CI.
 */
import assert from "node:assert/strict";
import "../core/builtins.ts";
import { initBackend } from "../core/backend.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe } from "../core/run.ts";
import { Trainer } from "../core/trainer.ts";
import { installNovalabKernels } from "../kernels/install.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { writeTinyBertFolder } from "../models/tiny_hf_model.ts";
import {
  type MimicFixtureStudy,
  mimicReport,
  novaMimicFixtureOverrides,
  writeMimicFixture,
} from "../data/fixtures.ts";

const FFI = (await Deno.permissions.query({ name: "ffi" })).state === "granted";
const skip = FFI ? await webgpuSkipReason() : "needs --allow-ffi (sharp, onnxruntime)";
if (skip) console.warn(`tests/nova_mimic_replay_test.ts skipped: ${skip}`);

const PHRASES = ["no acute process.", "small left effusion.", "mild edema.", "clear lungs."];
const STEPS = 7;

const studies = (n: number): MimicFixtureStudy[] =>
  Array.from({ length: n }, (_, i) => ({
    subject: `1${String(i).padStart(7, "0")}`,
    study: `5${String(i).padStart(7, "0")}`,
    split: i < n - 4 ? "train" : i < n - 2 ? "validate" : "test",
    report: mimicReport({ findings: PHRASES[(i + 1) % 4]!, impression: PHRASES[i % 4]! }),
    images: [{ dicom: `d${i}-f`, view: i % 2 ? "AP" : "PA", value: 0.2 + 0.02 * i }],
    labels: { Edema: i % 3 ? "0.0" : "1.0" },
  }));

Deno.test({
  name: "nova_mimic: jittered radiograph views and a BERT tower replay exactly as written",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-mimic-replay-" });
    try {
      await writeMimicFixture(`${dir}/mimic`, studies(40));
      const words = [...new Set(PHRASES.join(" ").replace(/\./g, " .").split(/\s+/))];
      await writeTinyBertFolder(`${dir}/models/tiny-bert`, { words, hidden: 16 });
      await initBackend("webgpu");
      installNovalabKernels();
      const runs: { losses: number[]; stats: unknown }[] = [];
      for (const replay of [false, true]) {
        const recipe = await loadRunnable("recipes/nova_mimic.yaml", [
          ...novaMimicFixtureOverrides(dir),
          `train.steps=${STEPS}`,
        ]);
        const { source, graph } = await buildRecipe(recipe, `${dir}/cache`);
        const trainer = new Trainer(graph, source, {
          config: recipe.train,
          seed: recipe.seed,
          replay,
        });
        const losses: number[] = [];
        for (let step = 0; step < STEPS; step++) losses.push((await trainer.step(step)).loss);
        runs.push({ losses, stats: trainer.replayStats });
        await trainer.close();
        trainer.optimizer.dispose();
        graph.dispose();
        source.dispose();
      }
      const [written, replayed] = runs as [typeof runs[0], typeof runs[0]];
      const stats = replayed.stats as { mode: string; replays: number; reason: string | null };
      assert.equal(stats.mode, "replaying", `reason: ${stats.reason}`);
      assert.equal(stats.replays, STEPS - 3);
      assert.ok(written.losses.every(Number.isFinite), `losses ${written.losses}`);
      assert.deepEqual(replayed.losses, written.losses);
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
