/**
 * The attention backward's dK/dV form chosen per shape (`kernels/attention_tuning.ts`,
 * `kernels/attention_autotune.ts`) on the fallback adapter: the table decides
 * which programs run and the environment overrides it, the gradient is the
 * same either way, both clocks time both forms, and the cache keeps choices.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { selfAttention } from "./attention.ts";
import {
  ATTENTION_SPLIT_KV_ENV,
  type AttentionShape,
  attentionShapeKey,
  attentionTable,
} from "./attention_tuning.ts";
import { autotuneAttention, tuneAttentionShape } from "./attention_autotune.ts";
import { KEEP_RULE_WITHIN } from "./matmul_autotune.ts";
import { openTuningCache } from "./autotune_cache.ts";
import {
  assertClose,
  testOnBothClocks,
  useNovalabWebGpu,
  values,
  webgpuSkipReason,
  withTuningCacheDir,
} from "./testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const SHAPE: AttentionShape = { n: 2, t: 13, heads: 2, dh: 8, keyBias: false };

/** The QKV gradient of a fixed loss, and the dK/dV programs it ran. */
async function gradient(): Promise<{ grad: Float32Array; programs: Record<string, number> }> {
  const counter = await useNovalabWebGpu();
  const { n, t, heads, dh } = SHAPE;
  const qkv = tf.tensor(values(n * t * 3 * heads * dh, 7), [n, t, 3 * heads * dh]);
  const w = tf.tensor(values(n * t * heads * dh, 8), [n, t, heads * dh]);
  const g = tf.grad((x: tf.Tensor) => tf.sum(tf.mul(selfAttention(x, heads), w)))(qkv);
  const grad = await g.data() as Float32Array;
  tf.dispose([qkv, w, g]);
  return { grad, programs: counter.read().byProgram };
}

Deno.test(
  "kernels/attention_tuning: the table picks the dK/dV form, the environment overrides it",
  opts,
  async () => {
    try {
      const recording = attentionTable.record();
      const fused = await gradient();
      recording.stop();
      assert.deepEqual(recording.shapes().map(attentionShapeKey), ["attention 2x13 h2x8"]);
      assert.equal(fused.programs["NovalabAttentionGradKeyValueProgram"], 1, "fused by default");
      attentionTable.set(SHAPE, true);
      const split = await gradient();
      assert.equal(split.programs["NovalabAttentionGradValueProgram"], 1, "the table splits");
      assert.equal(split.programs["NovalabAttentionGradKeyValueProgram"] ?? 0, 0);
      assertClose(split.grad, fused.grad, "split vs fused dQKV", { atol: 2e-5, rtol: 2e-4 });
      Deno.env.set(ATTENTION_SPLIT_KV_ENV, "0");
      const forced = await gradient();
      assert.equal(forced.programs["NovalabAttentionGradKeyValueProgram"], 1, "=0 wins");
    } finally {
      Deno.env.delete(ATTENTION_SPLIT_KV_ENV);
      attentionTable.clear();
    }
  },
);

testOnBothClocks(
  (clock) =>
    `kernels/attention_autotune: times both forms (${clock} clock), keeps fused unless beaten`,
  opts,
  () => attentionTable.clear(),
  async (backend, wallClock) => {
    const shape = { ...SHAPE, keyBias: true };
    const r = await tuneAttentionShape(backend, shape, { reps: 3, wallClock });
    assert.equal(r.clock, wallClock ? "wall" : "gpu");
    assert.ok(r.fusedMs > 0 && r.splitMs > 0, JSON.stringify(r));
    assert.equal(r.split, r.splitMs < r.fusedMs * (1 - KEEP_RULE_WITHIN));
    assert.equal(attentionTable.get(shape), r.split, "the kept form is in the table");
  },
);

Deno.test(
  "kernels/attention_autotune: choices are cached per adapter and programs",
  opts,
  async () => {
    await withTuningCacheDir(() => attentionTable.clear(), async (backend, dir) => {
      const first = await openTuningCache(backend, dir);
      const tuned = await autotuneAttention(backend, [SHAPE], first, { reps: 2 });
      await first.save();
      assert.equal(tuned.tuned.length, 1);
      attentionTable.clear();
      const again = await autotuneAttention(backend, [SHAPE], await openTuningCache(backend, dir));
      assert.deepEqual(again.cached, [{
        key: "attention 2x13 h2x8",
        split: tuned.tuned[0]!.split,
      }]);
      assert.equal(attentionTable.get(SHAPE), tuned.tuned[0]!.split);
    });
  },
);
