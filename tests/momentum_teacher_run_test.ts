/**
 * Momentum teachers (`kind: ema` nodes) through whole runs of the shipped
 * recipes/clip_momentum.yaml: each teacher's weights in the checkpoints are
 * the float64 moving average of its source's checkpointed trajectory (a
 * constant momentum and a cosine one), the optimiser trains none of them, a
 * run stopped and resumed ends with the uninterrupted run's teachers,
 * `model.safetensors` keeps them, on WebGPU the replayed step moves them as
 * the step issued as written does; and the recipe and graph errors.
 */
import assert from "node:assert/strict";
import { buildRecipe, type RunOptions, runRecipe } from "../core/run.ts";
import { evaluateRun } from "../core/evaluate_run.ts";
import { initBackend } from "../core/backend.ts";
import { teacherDecay } from "../core/momentum_teacher.ts";
import { assertClose, webgpuSkipReason } from "../kernels/testing.ts";
import { seedTextCache } from "./offline_data.ts";
import { checkpointTensors, replayedCheckpoints, tinyRecipe } from "./tiny_runs.ts";

const STEPS = 4;
const TINY = ["vars.dim=16", "vars.momentum=0.6", "nodes.image_teacher.final=0.9"];

function clipMomentum(overrides: string[]) {
  return tinyRecipe("recipes/clip_momentum.yaml", [...TINY, ...overrides]);
}

const tensors = checkpointTensors;

/** Teacher → source and the momentum schedule of the tiny run. */
const TEACHERS = {
  image_teacher: { of: "image", decay: 0.6, final: 0.9 },
  image_proj_teacher: { of: "image_proj", decay: 0.6 },
  text_proj_teacher: { of: "text_proj", decay: 0.6 },
};

Deno.test({
  name: "momentum teachers: the moving average of their sources, resumed exactly, exported",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-teacher-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const recipe = await clipMomentum([`train.steps=${STEPS}`, "train.checkpoint_every=1"]);
    const built = await buildRecipe(recipe, `${dir}/cache`);
    const trained = built.graph.parameters().map((p) => p.name);
    assert.ok(trained.every((n) => !n.includes("teacher")), "the optimiser trains no teacher");
    const initial = new Map(
      [...built.graph.parameters(), ...built.graph.buffers({ teachers: false })]
        .map((p) => [p.name, p.variable.dataSync() as Float32Array]),
    );
    built.graph.dispose();
    built.source.dispose();
    const options: RunOptions = { runsDir: dir, cacheDir: `${dir}/cache`, quiet: true };
    const whole = await runRecipe(recipe, { ...options, skipEval: true, skipReport: true });
    const checkpoint = (step: number) =>
      `${whole.paths.checkpoints}/step-${String(step).padStart(6, "0")}.safetensors`;

    // t₀ = s₀, then tₙ = tₙ₋₁ + (sₙ − tₙ₋₁)(1 − mₙ) over the checkpointed sources, in float64
    // (batch norm's running statistics too).
    const last = await tensors(checkpoint(STEPS));
    const checked = new Set<string>();
    for (const [teacher, options] of Object.entries(TEACHERS)) {
      const expected = new Map(
        [...initial].filter(([k]) => k.startsWith(`${options.of}.`))
          .map(([k, v]) => [k.slice(options.of.length + 1), Float64Array.from(v)]),
      );
      assert.ok(expected.size > 0, `${options.of} has parameters`);
      for (let n = 1; n <= STEPS; n++) {
        const m = teacherDecay(n, STEPS, options);
        const source = await tensors(checkpoint(n));
        for (const [k, t] of expected) {
          const s = source.get(`${options.of}.${k}`)!;
          t.forEach((x, i) => (t[i] = x + (s[i]! - x) * (1 - m)));
        }
      }
      for (const [k, t] of expected) {
        const got = last.get(`${teacher}.${k}`);
        assert.ok(got, `checkpoint holds ${teacher}.${k}`);
        assertClose(got, t, `${teacher}.${k}`, { atol: 1e-6, rtol: 1e-5 });
        checked.add(`${teacher}.${k}`);
      }
    }
    assert.ok([...checked].some((k) => /^image_proj_teacher\..*running_var/.test(k)));
    assert.ok(![...last.keys()].some((k) => k.startsWith("optim.") && k.includes("teacher")));
    const moved = [...checked].some((k) => {
      const source = last.get(k.replace(/_teacher\./, "."))!;
      return last.get(k)!.some((x, i) => x !== source[i]);
    });
    assert.ok(moved, "teachers lag their sources");

    // Kept at inference: in model.safetensors, as checkpointed.
    const exported = await tensors(`${whole.paths.checkpoints}/model.safetensors`);
    for (const k of checked) assert.deepEqual(exported.get(k), last.get(k), `${k} exported`);

    // Stopped after step 2 and resumed: the uninterrupted run's teachers.
    const first = await runRecipe(recipe, { ...options, stopAfter: 2, skipEval: true });
    const resumed = await runRecipe(recipe, {
      ...options,
      resume: first.paths.root,
      skipEval: true,
    });
    const after = await tensors(`${resumed.paths.checkpoints}/step-00000${STEPS}.safetensors`);
    for (const k of checked) assert.deepEqual(after.get(k), last.get(k), `${k} resumed`);
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test("momentum teachers: recipe errors name the key, the value and what was expected", async () => {
  const rejects = (set: string[], pattern: RegExp) =>
    assert.rejects(() => clipMomentum(["train.steps=4", ...set]), pattern);
  await rejects(["nodes.image_teacher.of=imag"], /nodes\.image_teacher\.of: unknown node "imag"/);
  await rejects(
    ["nodes.image_teacher.of=image_teacher"],
    /nodes\.image_teacher\.of: a teacher cannot follow itself/,
  );
  await rejects(
    ["nodes.image_proj_teacher.of=image_teacher"],
    /"image_teacher" is itself an ema node \(follow the node it follows: "image"\)/,
  );
  await rejects(["nodes.image.freeze=true"], /"image" is frozen \(freeze: true\)/);
  await rejects(
    ["nodes.text_proj_teacher.lr_scale=0.5"],
    /nodes\.text_proj_teacher\.lr_scale: an ema node trains nothing/,
  );
  await rejects(["nodes.image_teacher.decay=1"], /image_teacher\.decay[\s\S]*< 1/);
  await rejects(["nodes.image_teacher.final=1.5"], /image_teacher\.final[\s\S]*<= 1/);
  await rejects(
    ["nodes.text_proj_teacher.input=[text_raw, text_raw]"],
    /a teacher of "text_proj" \(mlp\) takes 1 input reference, got 2/,
  );
  await rejects(["losses[0].distill=1.5"], /losses\[0\]\.distill[\s\S]*<= 1/);
  await rejects(
    ["nodes.image_teacher.final=0.5"],
    /nodes\.image_teacher\.final[\s\S]*expected final ≥ decay/,
  );
  await rejects(
    ["nodes.image.input=image_proj_teacher"],
    /nodes\.image_teacher\.of: "image" reads this teacher \(image → image_proj_teacher → image_teacher\)/,
  );
});

Deno.test({
  name: "momentum teachers: the compiler refuses inputs that carry gradients",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-teacher-err-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const recipe = await clipMomentum([
      "train.steps=2",
      "nodes.image_proj_teacher.input=image",
    ]);
    await assert.rejects(
      () => buildRecipe(recipe, `${dir}/cache`),
      /nodes\.image_proj_teacher\.input: the teacher reads "image", which depends on the trained parameters of "image"/,
    );
    const distilled = await clipMomentum(["train.steps=2", "losses[0].distill=0"]);
    await assert.rejects(
      () => buildRecipe(distilled, `${dir}/cache`),
      /image_teacher and text_teacher bound but distill is 0/,
    );
    const unbound = await clipMomentum([
      "train.steps=2",
      "losses[0].inputs={ image: image_proj, text: text_proj, image_teacher: image_proj_teacher }",
    ]);
    await assert.rejects(
      () => buildRecipe(unbound, `${dir}/cache`),
      /distill 0\.4 needs the teachers' embeddings; bind text_teacher/,
    );
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "momentum teachers: train.ema averages the students, not the teachers; eval reads both",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-teacher-ema-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const recipe = await clipMomentum([
      "train.steps=2",
      "train.ema={ decay: 0.5, evaluate: both }",
    ]);
    const options: RunOptions = { runsDir: dir, cacheDir: `${dir}/cache`, quiet: true };
    const run = await runRecipe(recipe, { ...options, skipReport: true });
    const saved = await tensors(`${run.paths.checkpoints}/step-000002.safetensors`);
    assert.ok(saved.has("ema.image.norm.weight"));
    assert.ok(saved.has("image_teacher.norm.weight"));
    assert.ok(![...saved.keys()].some((k) => k.startsWith("ema.") && k.includes("_teacher.")));
    const again = await evaluateRun(run.paths.root, { backend: "wasm" });
    assert.deepEqual(again.results, run.eval);
    await Deno.remove(dir, { recursive: true });
  },
});

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/momentum_teacher_run_test.ts WebGPU case skipped: ${skip}`);

Deno.test({
  name: "momentum teachers: on WebGPU the replayed step moves them as the step issued as written",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // α ramps over 4 updates: a host value each replay computes from its own update count.
    const recipe = await clipMomentum([
      "train.steps=6",
      "train.checkpoint_every=0",
      "losses[0].distill_warmup=4",
    ]);
    const { written, replayed } = await replayedCheckpoints(recipe, 6);
    const teachers = (all: Map<string, Float32Array>) =>
      new Map([...all].filter(([k]) => k.includes("_teacher.")));
    assert.ok(teachers(written).size > 10);
    assert.deepEqual(teachers(replayed), teachers(written), "replayed = as written");
  },
});
