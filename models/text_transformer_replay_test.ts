/**
 * The trainable text transformer inside a replayed step
 * (`core/replayable_step.ts`): its token rows, padding mask and EOT positions
 * are host values read from the step's caption list, so every replay encodes
 * its own batch (captions of other lengths: other masks and EOT positions),
 * and the step — forward, gradients of every parameter — equals the step run
 * as written: bit for bit, except where two runs as written differ too (the
 * token table's scattered gradient). EOT and mean pooling. Fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { ReplayableStep } from "../core/replayable_step.ts";
import { assertClose, useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";
import { TextTransformer } from "./text_transformer.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`models/text_transformer_replay_test.ts skipped: ${skip}`);

const WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

for (const pooling of ["eot", "mean"] as const) {
  Deno.test({
    name: `text_transformer (${pooling} pooling): a replayed step encodes each step's captions`,
    ignore: skip !== null,
    sanitizeOps: false,
    sanitizeResources: false,
    async fn() {
      await useNovalabWebGpu();
      const tower = new TextTransformer({
        vocab: 512,
        buckets: 64,
        maxLength: 12,
        dim: 16,
        depth: 1,
        heads: 2,
        mlpRatio: 2,
        causal: pooling === "eot",
        pooling,
        output: "pooled",
      }, { name: "text", seed: 3 });
      let captions: string[] = [];
      const ctx = { training: true, step: 0, seed: 0 };
      const fn = () =>
        tf.tidy(() => {
          const { value, grads } = tf.variableGrads(() =>
            tf.sum(tf.square(tower.forward([captions], ctx))) as tf.Scalar
          );
          return [value, ...tower.parameters.map((p) => grads[p.variable.name]!)];
        });
      const step = new ReplayableStep(fn);
      for (let i = 0; i < 7; i++) {
        captions = [0, 1, 2].map((j) =>
          `a photo of the number ${WORDS[(i + j) % 10]}${" again".repeat((i * j) % 4)}.`
        );
        const replayed = step.run([], { inputs: [captions] });
        const written = fn();
        for (let k = 0; k < written.length; k++) {
          const [r, w] = await Promise.all([replayed[k]!.data(), written[k]!.data()]);
          // The token table's gradient (output 1) scatters with atomic adds on WebGPU: runs as
          // written differ in the last bits among themselves where rows repeat (padding).
          if (k === 1) assertClose(r, w, `step ${i}, token table`, { atol: 1e-6, rtol: 1e-5 });
          else assert.deepEqual(r, w, `step ${i}, output ${k}`);
        }
        tf.dispose([...replayed, ...written]);
      }
      assert.equal(step.stats.mode, "replaying", `reason: ${step.stats.reason}`);
      assert.equal(step.stats.replays, 4);
      step.dispose();
      tower.dispose();
    },
  });
}
