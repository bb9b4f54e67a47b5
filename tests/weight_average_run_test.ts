/**
 * `train.ema` through whole runs of the shipped NOVA recipe: the averages in
 * the checkpoints are the float64 average of the checkpointed parameter
 * trajectory; a run stopped and resumed ends with the uninterrupted run's
 * averages; `model.safetensors` holds the averaged weights; `evaluate: both`
 * writes `<name>` (averaged) and `<name>_raw` results, which `deno task eval`
 * reproduces from the checkpoint; on WebGPU the replayed step averages as the
 * step issued as written does; and the recipe errors.
 */
import assert from "node:assert/strict";
import { buildRecipe, type RunOptions, runRecipe } from "../core/run.ts";
import { evaluateRun } from "../core/evaluate_run.ts";
import { initBackend } from "../core/backend.ts";
import { assertClose, webgpuSkipReason } from "../kernels/testing.ts";
import { seedTextCache } from "./offline_data.ts";
import { checkpointTensors, replayedCheckpoints, tinyRecipe } from "./tiny_runs.ts";

const DECAY = 0.6;
const TINY = [
  "nodes.pred.layers=[32, 16]",
  "vars.dim=16",
  "losses[1].slices=32",
  "eval[1].every=0",
  `train.ema={ decay: ${DECAY}, warmup: true, evaluate: both }`,
];

function nova(overrides: string[]) {
  return tinyRecipe("recipes/nova.yaml", [...TINY, ...overrides]);
}

const tensors = checkpointTensors;

Deno.test({
  name: "weight average: checkpoints, resume, export and both evaluations of a NOVA run",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-ema-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const recipe = await nova(["train.steps=4", "train.checkpoint_every=1"]);
    const built = await buildRecipe(recipe, `${dir}/cache`);
    const initial = new Map(
      [...built.graph.parameters(), ...built.graph.buffers()]
        .map((p) => [p.name, p.variable.dataSync() as Float32Array]),
    );
    built.graph.dispose();
    built.source.dispose();
    const options: RunOptions = { runsDir: dir, cacheDir: `${dir}/cache`, quiet: true };
    const whole = await runRecipe(recipe, { ...options, skipReport: true });
    const checkpoint = (step: number) => `${whole.paths.checkpoints}/step-00000${step}.safetensors`;

    // The float64 average of the trajectory, with the warm-up's decay min(0.6, n / (n + 9)).
    const expected = new Map([...initial].map(([k, v]) => [k, Float64Array.from(v)]));
    for (let n = 1; n <= 4; n++) {
      const d = Math.min(DECAY, n / (n + 9));
      for (const [k, p] of await tensors(checkpoint(n), "")) {
        const e = expected.get(k);
        if (e) e.forEach((x, i) => (e[i] = x + (p[i]! - x) * (1 - d)));
      }
    }
    const averages = await tensors(checkpoint(4), "ema.");
    assert.deepEqual([...averages.keys()].sort(), [...initial.keys()].sort());
    assert.ok([...averages.keys()].some((k) => k.endsWith("running_var")), "buffers too");
    for (const [k, v] of averages) assertClose(v, expected.get(k)!, k, { atol: 1e-6, rtol: 1e-5 });
    const moved = [...averages].some(([k, v]) => v.some((x, i) => x !== initial.get(k)![i]));
    assert.ok(moved, "the averages moved");

    // model.safetensors: the averaged inference weights.
    const exported = await tensors(`${whole.paths.checkpoints}/model.safetensors`, "");
    for (const [k, v] of exported) {
      if (averages.has(k)) assert.deepEqual(v, averages.get(k), `${k} exported averaged`);
    }
    assert.ok([...exported.keys()].some((k) => averages.has(k)));

    // Both evaluations, reproduced by `deno task eval` from the checkpoint.
    const names = Object.keys(whole.eval).sort();
    assert.deepEqual(names, [
      "diagnostics",
      "diagnostics_raw",
      "retrieval",
      "retrieval_raw",
      "zero_shot",
      "zero_shot_raw",
    ]);
    assert.notDeepEqual(whole.eval["retrieval"], whole.eval["retrieval_raw"]);
    const again = await evaluateRun(whole.paths.root, { backend: "wasm" });
    assert.deepEqual(again.results, whole.eval);

    // Stopped after step 2 and resumed: the uninterrupted run's averages.
    const first = await runRecipe(recipe, { ...options, stopAfter: 2, skipEval: true });
    const resumed = await runRecipe(recipe, {
      ...options,
      resume: first.paths.root,
      skipEval: true,
    });
    const after = await tensors(`${resumed.paths.checkpoints}/step-000004.safetensors`, "ema.");
    assert.deepEqual(after, averages);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("weight average: recipe errors name the key, the value and what was expected", async () => {
  await assert.rejects(
    () => nova(["train.steps=4", "train.ema=1"]),
    /train\.ema: invalid value 1\n\s+expected a number < 1/,
  );
  await assert.rejects(
    () => nova(["train.steps=4", "train.ema={ decay: 1 }"]),
    /train\.ema\.decay: invalid value 1\n\s+expected a number < 1/,
  );
  await assert.rejects(
    () => nova(["train.steps=4", "train.ema={ decay: 0.9, evaluate: last }"]),
    /train\.ema\.evaluate[\s\S]*averaged[\s\S]*raw[\s\S]*both/,
  );
  await assert.rejects(
    () => nova(["train.steps=4", "eval[1].name=zero_shot_raw"]),
    /eval\[1\]\.name[\s\S]*"zero_shot_raw" is where train\.ema\.evaluate: both saves the raw weights' results of eval\[0\] \("zero_shot"\)/,
  );
  const shorthand = await nova(["train.steps=4", "train.ema=0.99"]);
  assert.deepEqual(shorthand.train.ema, { decay: 0.99, warmup: false, evaluate: "averaged" });
  await assert.rejects(
    () => nova(["train.steps=4", "train.ema={ decay: 0.9, warmup: true, debias: true }"]),
    /train\.ema\.debias[\s\S]*expected warmup or debias, not both/,
  );
});

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/weight_average_run_test.ts WebGPU case skipped: ${skip}`);

Deno.test({
  name: "weight average: on WebGPU the replayed step averages as the step issued as written",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const recipe = await nova(["train.steps=6", "train.checkpoint_every=0"]);
    const { written, replayed } = await replayedCheckpoints(recipe, 6, "ema.");
    assert.ok(written.size > 10);
    assert.deepEqual(replayed, written, "replayed = as written");
  },
});
