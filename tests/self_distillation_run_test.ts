/**
 * SILC's self-distillation (recipes/clip_silc.yaml: `take_views`, a DINO head,
 * momentum teachers, `center`, `self_distillation`) through short runs: the
 * centre moves and is checkpointed, the train-only teachers stay out of
 * `model.safetensors`, a stopped and resumed run ends as the uninterrupted
 * one, and on WebGPU the replayed step (the centre's in-place update and
 * the teacher temperature's warm-up included) computes what the step issued
 * as written does.
 */
import assert from "node:assert/strict";
import { type RunOptions, runRecipe } from "../core/run.ts";
import { initBackend } from "../core/backend.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { seedTextCache } from "./offline_data.ts";
import { checkpointTensors, replayedCheckpoints, tinyRecipe } from "./tiny_runs.ts";

const TINY = ["vars.dim=16", "vars.prototypes=32", "vars.momentum=0.6"];

function silc(overrides: string[]) {
  return tinyRecipe("recipes/clip_silc.yaml", [...TINY, ...overrides]);
}

const tensors = checkpointTensors;

Deno.test({
  name: "self-distillation: the centre moves and resumes exactly; teachers stay out of the export",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-silc-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const recipe = await silc(["train.steps=4", "train.checkpoint_every=2"]);
    const options: RunOptions = { runsDir: dir, cacheDir: `${dir}/cache`, quiet: true };
    const whole = await runRecipe(recipe, { ...options, skipEval: true, skipReport: true });
    assert.equal(whole.steps, 4);
    const last = await tensors(`${whole.paths.checkpoints}/step-000004.safetensors`);
    for (const [k, v] of last) assert.ok(v.every(Number.isFinite), `${k} finite`);
    const center = last.get("centred.center");
    assert.equal(center?.length, 32);
    assert.ok(center!.some((x) => x !== 0), "the centre moved from 0");
    assert.ok(last.has("teacher_dino.prototypes") && last.has("teacher.norm.weight"));
    const exported = await tensors(`${whole.paths.checkpoints}/model.safetensors`);
    assert.ok(exported.has("dino.prototypes") && exported.has("image.norm.weight"));
    assert.ok(![...exported.keys()].some((k) => /^(teacher|centred)/.test(k)), "train-only out");

    const first = await runRecipe(recipe, { ...options, stopAfter: 2, skipEval: true });
    const resumed = await runRecipe(recipe, {
      ...options,
      resume: first.paths.root,
      skipEval: true,
    });
    const after = await tensors(`${resumed.paths.checkpoints}/step-000004.safetensors`);
    for (const k of ["centred.center", "teacher_dino.prototypes", "image.norm.weight"]) {
      assert.deepEqual(after.get(k), last.get(k), `${k} resumed`);
    }
    // λ = 0: the term and the nodes only it reads are skipped, the centre with them (the
    // compiler's dry runs leave it nothing to fold in).
    const off = await silc(["train.steps=2", "vars.lambda=0"]);
    const skipped = await runRecipe(off, { ...options, skipEval: true, skipReport: true });
    const centre = (await tensors(`${skipped.paths.checkpoints}/step-000002.safetensors`))
      .get("centred.center")!;
    assert.ok(centre.every((x) => x === 0), "an unused centre stays at 0");
    await Deno.remove(dir, { recursive: true });
  },
});

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/self_distillation_run_test.ts WebGPU case skipped: ${skip}`);

Deno.test({
  name: "self-distillation: on WebGPU the replayed step computes what the step as written does",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // The teacher temperature's warm-up is a host value: each replay computes its own.
    const recipe = await silc([
      "train.steps=6",
      "train.checkpoint_every=0",
      "losses[1].teacher_warmup={ from: 0.02, steps: 5 }",
    ]);
    const { written: a, replayed: b } = await replayedCheckpoints(recipe, 6);
    assert.ok(a.get("centred.center")!.some((x) => x !== 0));
    for (const k of ["centred.center", "teacher_dino.prototypes", "dino.prototypes"]) {
      assert.deepEqual(b.get(k), a.get(k), `${k}: replayed = as written`);
    }
  },
});
