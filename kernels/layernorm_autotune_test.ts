/**
 * The LayerNorm backward's form chosen per shape (`kernels/layernorm_tuning.ts`,
 * `kernels/layernorm_autotune.ts`) on the fallback adapter: the table sets the
 * rows per workgroup or the two-kernel form, the environment overrides it,
 * the gradients are the same in every form, the tuner times every form with
 * both clocks, and the cache keeps choices.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { layerNorm } from "./layernorm.ts";
import {
  LAYER_NORM_BACKWARD_ENV,
  type LayerNormShape,
  layerNormShapeKey,
  layerNormTable,
  rowsPerGroup,
} from "./layernorm_tuning.ts";
import { autotuneLayerNorm, tuneLayerNormShape } from "./layernorm_autotune.ts";
import { KEEP_RULE_WITHIN } from "./autotune_timing.ts";
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

const SHAPE: LayerNormShape = { rows: 70, dim: 24, skip: false };

/** dx, dγ, dβ of a fixed loss, the workgroups of the one-pass program (0: not run), and programs. */
async function gradients() {
  const counter = await useNovalabWebGpu();
  const { rows, dim } = SHAPE;
  const x = tf.tensor(values(rows * dim, 1), [rows, dim]);
  const gamma = tf.tensor(values(dim, 2), [dim]), beta = tf.tensor(values(dim, 3), [dim]);
  const w = tf.tensor(values(rows * dim, 4), [rows, dim]);
  const backend = tf.backend() as unknown as {
    recordAndSubmit: (p: unknown, ...r: unknown[]) => void;
  };
  const own = backend.recordAndSubmit;
  let groups = 0;
  backend.recordAndSubmit = function (program, ...rest) {
    const p = program as { constructor: { name: string }; dispatch: number[] };
    if (p.constructor.name === "NovalabLayerNormBackwardProgram") groups = p.dispatch[0]!;
    return own.call(this, program, ...rest);
  };
  try {
    const gs = tf.grads((a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) =>
      tf.sum(tf.mul(layerNorm(a, g, b, 1e-6), w))
    )([x, gamma, beta]);
    const out = await Promise.all(gs.map((g) => g.data()));
    tf.dispose([x, gamma, beta, w, ...gs]);
    return { out, groups, programs: counter.read().byProgram };
  } finally {
    backend.recordAndSubmit = own;
  }
}

Deno.test(
  "kernels/layernorm_tuning: the table sets the backward's form, the environment overrides it",
  opts,
  async () => {
    try {
      const recording = layerNormTable.record();
      const rule = await gradients();
      recording.stop();
      assert.deepEqual(recording.shapes().map(layerNormShapeKey), ["layernorm 70x24"]);
      assert.equal(rule.groups, Math.ceil(70 / rowsPerGroup(70)), "the rule's rows per workgroup");
      layerNormTable.set(SHAPE, 32);
      const wide = await gradients();
      assert.equal(wide.groups, 3, "32 rows per workgroup: 3 workgroups for 70 rows");
      layerNormTable.set(SHAPE, 0);
      const two = await gradients();
      assert.equal(two.groups, 0, "0: the two-kernel backward");
      assert.equal(two.programs["NovalabLayerNormGradXProgram"], 1);
      for (const [name, other] of [["32 rows", wide], ["two kernels", two]] as const) {
        other.out.forEach((g, i) =>
          assertClose(g, rule.out[i]!, `${name}: gradient ${i}`, { atol: 2e-5, rtol: 1e-4 })
        );
      }
      layerNormTable.set(SHAPE, 8);
      Deno.env.set(LAYER_NORM_BACKWARD_ENV, "split");
      assert.equal((await gradients()).groups, 0, "=split wins over the table");
    } finally {
      Deno.env.delete(LAYER_NORM_BACKWARD_ENV);
      layerNormTable.clear();
    }
  },
);

testOnBothClocks(
  (clock) =>
    `kernels/layernorm_autotune: times every form (${clock} clock), keeps the rule unless beaten`,
  opts,
  () => layerNormTable.clear(),
  async (backend, wallClock) => {
    const shape = { ...SHAPE, skip: true };
    const r = await tuneLayerNormShape(backend, shape, { reps: 3, wallClock });
    assert.equal(r.clock, wallClock ? "wall" : "gpu");
    const forms = new Set([rowsPerGroup(70), 4, 8, 16, 32, 0]);
    assert.equal(r.candidates, forms.size, "the rule's count, 4, 8, 16, 32 and two kernels");
    assert.equal(r.rule.rows, rowsPerGroup(70));
    assert.ok(r.chosen.ms > 0 && r.rule.ms > 0);
    assert.ok(
      r.chosen.rows === r.rule.rows || r.chosen.ms < r.rule.ms * (1 - KEEP_RULE_WITHIN),
    );
    assert.equal(layerNormTable.get(shape), r.chosen.rows, "the kept form is in the table");
  },
);

Deno.test(
  "kernels/layernorm_autotune: choices are cached per adapter and programs",
  opts,
  async () => {
    await withTuningCacheDir(() => layerNormTable.clear(), async (backend, dir) => {
      const cache = await openTuningCache(backend, dir);
      const first = await autotuneLayerNorm(backend, [SHAPE], cache, { reps: 2 });
      await cache.save();
      layerNormTable.clear();
      const again = await autotuneLayerNorm(backend, [SHAPE], await openTuningCache(backend, dir));
      assert.deepEqual(again.cached, [{
        key: "layernorm 70x24",
        rows: first.tuned[0]!.chosen.rows,
      }]);
      assert.equal(layerNormTable.get(SHAPE), first.tuned[0]!.chosen.rows);
    });
  },
);
