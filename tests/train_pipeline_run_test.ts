/**
 * A run with one step in flight (`core/train_loop.ts`) against the same run
 * reading every step first (`NOVALAB_TRAIN_PIPELINE=0`), on WebGPU with
 * novalab's kernels, where a step recorded too early would change the
 * parameters a checkpoint reads: the same per-step metrics, the same
 * checkpoints (after steps 3 and 6 and at the end), tensor for tensor. Runs on
 * the fallback adapter in CI.
 */
import assert from "node:assert/strict";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { runRecipe } from "../core/run.ts";
import { readMetrics } from "../core/rundir.ts";
import { decodeSafetensors } from "../core/safetensors.ts";
import { TRAIN_PIPELINE_ENV } from "../core/train_loop.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { mnistDirOverride } from "./offline_data.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/train_pipeline_run_test.ts skipped: ${skip}`);

const TINY = [
  "data.limit={ train: 256, test: 64 }",
  "train.steps=7",
  "train.batch=16",
  "train.log_every=1",
  "train.checkpoint_every=3",
  "train.schedule.warmup=2",
  "nodes.image.depth=1",
  "nodes.pred.layers=[32, 16]",
  "vars.dim=16",
  "losses[1].slices=32",
];

async function checkpoints(dir: string): Promise<Map<string, Map<string, number[]>>> {
  const out = new Map<string, Map<string, number[]>>();
  for await (const entry of Deno.readDir(dir)) {
    if (!entry.name.endsWith(".safetensors")) continue;
    const { tensors } = decodeSafetensors(await Deno.readFile(`${dir}/${entry.name}`));
    out.set(entry.name, new Map([...tensors].map(([k, t]) => [k, Array.from(t.data)])));
  }
  return out;
}

Deno.test({
  name: "train loop: a step in flight gives the same metrics and checkpoints as reading each step",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runs = await Deno.makeTempDir({ prefix: "novalab-pipeline-" });
    const recipe = await loadRunnable("recipes/nova.yaml", [...TINY, ...mnistDirOverride()]);
    const options = {
      runsDir: runs,
      backend: "webgpu" as const,
      quiet: true,
      skipEval: true,
      skipReport: true,
    };
    const piped = await runRecipe(recipe, options);
    Deno.env.set(TRAIN_PIPELINE_ENV, "0");
    let each;
    try {
      each = await runRecipe(recipe, options);
    } finally {
      Deno.env.delete(TRAIN_PIPELINE_ENV);
    }
    assert.equal(piped.steps, 7);
    const [a, b] = [await readMetrics(piped.paths), await readMetrics(each.paths)];
    assert.deepEqual(a.map((m) => m.step), [0, 1, 2, 3, 4, 5, 6]);
    assert.deepEqual(a.map((m) => m.loss), b.map((m) => m.loss), "per-step losses");
    assert.deepEqual(a.map((m) => m.grad_norm), b.map((m) => m.grad_norm), "gradient norms");
    const [ca, cb] = [
      await checkpoints(piped.paths.checkpoints),
      await checkpoints(each.paths.checkpoints),
    ];
    for (const name of ["step-000003.safetensors", "step-000006.safetensors"]) {
      assert.ok(ca.has(name), `${name} written; have ${[...ca.keys()]}`);
    }
    assert.deepEqual([...ca.keys()].sort(), [...cb.keys()].sort());
    for (const [file, tensors] of ca) {
      for (const [name, values] of tensors) {
        assert.deepEqual(values, cb.get(file)!.get(name), `${file}: ${name}`);
      }
    }
    await Deno.remove(runs, { recursive: true });
  },
});
