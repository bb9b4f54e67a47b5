/**
 * Evaluation's forward calls replayed on WebGPU (`core/inference_replay.ts`):
 * NOVA's image and text embeddings of a test split, batch after batch (the
 * GloVe tower embedding each batch's own captions, a host input of the
 * replayed call), equal bit for bit to the calls run as written; the last,
 * smaller batch is its own call form; disposing gives everything back.
 * Fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe } from "../core/run.ts";
import type { ReplayedInference } from "../core/inference_replay.ts";
import { embedSplit } from "../eval/features.ts";
import { installNovalabKernels } from "../kernels/install.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { mnistDirOverride, seedTextCache } from "./offline_data.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/inference_replay_test.ts skipped: ${skip}`);

Deno.test({
  name: "evaluation replays its forward calls and embeds exactly as written",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const cacheDir = await Deno.makeTempDir({ prefix: "novalab-inference-replay-" });
    try {
      await seedTextCache(cacheDir);
      await initBackend("webgpu");
      installNovalabKernels();
      const recipe = await loadRunnable("recipes/nova.yaml", [
        "data.limit={ train: 64, test: 60 }",
        "nodes.image.depth=1",
        "nodes.pred.layers=[32, 16]",
        "vars.dim=16",
        ...mnistDirOverride(),
      ]);
      const { graph, source } = await buildRecipe(recipe, cacheDir);
      const options = { split: "test", image: "pred", text: "text", batch: 8, who: "test" };
      const written = await embedSplit(graph.inference({ seed: 0 }), source, options);
      const tensorsBefore = tf.memory().numTensors;
      const model = graph.inference({ seed: 0, replay: true }) as ReplayedInference;
      const replayed = await embedSplit(model, source, options);
      const stats = Object.entries(model.stats);
      model.dispose();
      assert.equal(tf.memory().numTensors, tensorsBefore, "disposing left tensors behind");
      const image = tf.zeros([1, 28, 28, 1]);
      await assert.rejects(
        model.run("pred", { image }),
        /this inference model was disposed; make a new one with graph\.inference/,
      );
      image.dispose();
      assert.deepEqual(replayed.image?.data, written.image?.data, "image embeddings");
      assert.deepEqual(replayed.text?.data, written.text?.data, "text embeddings");
      assert.equal(replayed.image?.rows, 60);
      // 7 full batches per node (1 as written, 2 recorded, 4 replayed), then one of 4.
      const full = stats.filter(([key]) => key.includes("[8,"));
      assert.equal(full.length, 1, stats.map(([k]) => k).join("; "));
      const captions = stats.filter(([key]) => key.includes("8 strings"));
      assert.equal(captions.length, 1, stats.map(([k]) => k).join("; "));
      for (const [key, s] of [...full, ...captions]) {
        assert.equal(s.mode, "replaying", `${key}: ${s.reason}`);
        assert.equal(s.replays, 4, `${key}: ${s.reason}`);
      }
      assert.equal(stats.length, 4, "two nodes × (batch of 8, last batch of 4)");
      graph.dispose();
      source.dispose();
    } finally {
      await Deno.remove(cacheDir, { recursive: true });
    }
  },
});
