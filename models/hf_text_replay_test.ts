/**
 * The `hf_text` tower inside a replayed step (`core/replayable_step.ts`): its
 * embeddings are a host value read from the step's caption list, so every
 * replay embeds its own batch's texts (new ones computed on the way), bit for
 * bit as the step run as written. Fallback adapter in CI; a fake embedder
 * stands in for the ONNX model (models/hf_text_test.ts runs the real one).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { ReplayableStep } from "../core/replayable_step.ts";
import { useNovalabWebGpu, values, webgpuSkipReason } from "../kernels/testing.ts";
import { HfTextTower } from "./hf_text.ts";
import { TextEmbeddingCache } from "./text_cache.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`models/hf_text_replay_test.ts skipped: ${skip}`);

Deno.test({
  name: "hf_text: a replayed step embeds each step's own captions, as written",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await useNovalabWebGpu();
    const dir = await Deno.makeTempDir({ prefix: "novalab-hf-replay-" });
    try {
      let embedded = 0;
      const tower = new HfTextTower({
        name: "text",
        dim: 4,
        normalize: true,
        cache: new TextEmbeddingCache(dir, { tower: "fake", pooling: "mean" }),
        embed: (texts) => {
          embedded += texts.length;
          const sum = (t: string) => [...t].reduce((s, c) => s + c.charCodeAt(0), 0);
          return Float32Array.from(
            texts.flatMap((t) => [t.length, sum(t), t.at(-1)!.charCodeAt(0), 1]),
          );
        },
      });
      const w = tf.tensor(values(4 * 3, 1), [4, 3]);
      let captions: string[] = [];
      const ctx = { training: true, step: 0, seed: 0 };
      const fn = () => tf.tidy(() => [tf.matMul(tower.forward([captions], ctx), w)]);
      const step = new ReplayableStep(fn);
      for (let i = 0; i < 7; i++) {
        captions = [`a photo of ${i}`, `text ${i * i}`, "shared caption"];
        const [replayed] = step.run([], { inputs: [captions] });
        const [written] = fn();
        assert.deepEqual(await replayed!.data(), await written!.data(), `step ${i}`);
        tf.dispose([replayed!, written!]);
      }
      assert.equal(step.stats.mode, "replaying", `reason: ${step.stats.reason}`);
      assert.equal(step.stats.replays, 4);
      assert.equal(embedded, 15, "each new text embedded once, replays included");
      step.dispose();
      w.dispose();
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
