/**
 * `deno task run --autotune` on WebGPU (`core/train_loop.ts`,
 * `kernels/step_tuning.ts`): the first step runs with the rule's
 * tilings while its matmul shapes are recorded, every shape is then tuned and
 * cached for the adapter, and the run goes on with the chosen tilings —
 * identical first step, later steps equal within fp32 summation order, and a
 * second run reading every choice from the cache. Fallback adapter in CI.
 */
import assert from "node:assert/strict";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { runRecipe } from "../core/run.ts";
import { readMetrics } from "../core/rundir.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { clearTunedChoices } from "../kernels/step_tuning.ts";
import { TILING_CACHE_FILE } from "../kernels/autotune_cache.ts";
import { mnistDirOverride, seedTextCache } from "./offline_data.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/autotune_run_test.ts skipped: ${skip}`);

const TINY = [
  "data.limit={ train: 128, test: 32 }",
  "train.steps=4",
  "train.batch=16",
  "train.log_every=1",
  "nodes.image.depth=1",
  "nodes.pred.layers=[32, 16]",
  "vars.dim=16",
  "losses[1].slices=32",
];

/** A temporary runs folder with a cache (text vectors seeded) and quiet WebGPU run options. */
async function tempRuns() {
  const runs = await Deno.makeTempDir({ prefix: "novalab-autotune-" });
  const cacheDir = `${runs}/cache`;
  await seedTextCache(cacheDir);
  const options = {
    runsDir: runs,
    cacheDir,
    backend: "webgpu" as const,
    quiet: true,
    skipEval: true,
    skipReport: true,
  };
  return { runs, cacheDir, options };
}

Deno.test({
  name: "run --autotune: tunes after step 1, caches per adapter, same losses within fp32",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { runs, cacheDir, options } = await tempRuns();
    const recipe = await loadRunnable("recipes/nova.yaml", [...TINY, ...mnistDirOverride()]);
    try {
      clearTunedChoices();
      const rule = await runRecipe(recipe, options);
      const tuned = await runRecipe(recipe, { ...options, autotune: true });
      const cache = JSON.parse(await Deno.readTextFile(`${cacheDir}/${TILING_CACHE_FILE}`));
      const [adapter] = Object.values(cache.adapters) as Record<string, Record<string, unknown>>[];
      // One section per kernel fingerprint: the matmul tilings and the attention's dK/dV form.
      const keys = Object.values(adapter!).flatMap((section) => Object.keys(section));
      assert.ok(keys.length >= 5, `the step's products are tuned and cached: ${keys}`);
      assert.ok(keys.some((k) => k.includes("TN")), "weight gradients (Xᵀ·dY) among them");
      assert.ok(keys.some((k) => k.startsWith("attention ")), `the attention's shape: ${keys}`);
      const [a, b] = [await readMetrics(rule.paths), await readMetrics(tuned.paths)];
      assert.equal(b.length, 4);
      assert.equal(b[0]!.loss, a[0]!.loss, "the first step runs before tuning: identical");
      for (let i = 1; i < a.length; i++) {
        const [x, y] = [Number(a[i]!.loss), Number(b[i]!.loss)];
        const rel = Math.abs(y - x) / Math.abs(x);
        assert.ok(rel < 1e-3, `step ${i}: loss ${y} tuned vs ${x}`);
      }
      const before = (await Deno.stat(`${cacheDir}/${TILING_CACHE_FILE}`)).mtime;
      const again = await runRecipe(recipe, { ...options, autotune: true });
      assert.deepEqual(
        (await readMetrics(again.paths)).map((m) => m.loss),
        b.map((m) => m.loss),
        "a run with the cached choices repeats the tuned run",
      );
      // Each run directory records its choices; the second run read them from the cache.
      const record = (run: typeof tuned) => JSON.parse(Deno.readTextFileSync(run.paths.autotune));
      const [first, second] = [record(tuned), record(again)];
      assert.deepEqual(Object.keys(first.matmuls).sort(), Object.keys(second.matmuls).sort());
      assert.ok(
        Object.values(first.matmuls).every((c) => (c as { from: string }).from === "tuned"),
      );
      assert.ok(
        Object.values(second.attention).every((c) => (c as { from: string }).from === "cache"),
      );
      assert.ok(Object.keys(first.attention).length > 0, "the attention's form is recorded");
      assert.ok(Object.keys(first.layernorm).length > 0, "the LayerNorm backward's form too");
      const { rule_ms, tuned_ms } = first.per_step;
      assert.ok(tuned_ms > 0 && tuned_ms <= rule_ms, `per step: ${rule_ms} → ${tuned_ms} ms`);
      assert.deepEqual(second.per_step, first.per_step, "the cached run estimates from the cache");
      const after = (await Deno.stat(`${cacheDir}/${TILING_CACHE_FILE}`)).mtime;
      assert.deepEqual(after, before, "nothing new to tune: the cache is not rewritten");
    } finally {
      clearTunedChoices();
      await Deno.remove(runs, { recursive: true });
    }
  },
});

Deno.test({
  name: "run --autotune: a run whose first step is its last tunes nothing",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const { runs, cacheDir, options } = await tempRuns();
    const recipe = await loadRunnable("recipes/nova.yaml", [
      ...TINY,
      "train.steps=1",
      ...mnistDirOverride(),
    ]);
    try {
      const run = await runRecipe(recipe, { ...options, autotune: true });
      assert.equal(run.steps, 1);
      await assert.rejects(Deno.stat(run.paths.autotune), Deno.errors.NotFound);
      await assert.rejects(Deno.stat(`${cacheDir}/${TILING_CACHE_FILE}`), Deno.errors.NotFound);
    } finally {
      clearTunedChoices();
      await Deno.remove(runs, { recursive: true });
    }
  },
});
