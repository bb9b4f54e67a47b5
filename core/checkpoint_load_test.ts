/**
 * Reading checkpoints back refuses what would resume wrongly, naming the
 * file, the key and the value: a bad `latest.json`, a truncated file, a bad
 * `step` or format version, a missing optimiser moment (leaking nothing), a
 * parameter stored as int32, a tensor no parameter reads, a checkpoint of
 * another recipe or past its steps.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { saveCheckpoint } from "./checkpoint.ts";
import { latestCheckpoint, loadCheckpoint } from "./checkpoint_load.ts";
import { AdamW } from "./optim.ts";
import { sha256Hex, trainingRecipe } from "./recipe_fingerprint.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import type { Parameter } from "./types.ts";

await tf.setBackend("cpu");

const RECIPE = `name: tiny
seed: 0
data: { kind: mnist, dir: /data/mnist }
train: { steps: 10, log_every: 5, checkpoint_every: 5, optimizer: { lr: 0.001 } }
eval: [{ kind: zero_shot }]
`;

function parameters(): Parameter[] {
  return tf.tidy(() => [
    { name: "w", variable: tf.variable(tf.tensor2d([[1, 2], [3, 4]])), decay: true },
    { name: "b", variable: tf.variable(tf.tensor1d([0.5, -0.5])), decay: false },
  ]);
}

/** A checkpoint after 3 steps with the recipe's fingerprint; returns its path. */
async function written(dir: string): Promise<string> {
  const params = parameters();
  const opt = new AdamW(params, {});
  for (let i = 0; i < 3; i++) {
    const grads = new Map(params.map((p) => [p.name, tf.onesLike(p.variable)]));
    opt.apply(grads, 0.1);
    tf.dispose([...grads.values()]);
  }
  const training = trainingRecipe(RECIPE);
  const path = await saveCheckpoint(dir, {
    step: 3,
    parameters: params,
    optimizer: opt,
    metadata: { seed: "0", training_recipe: training, recipe_sha256: await sha256Hex(training) },
  });
  opt.dispose();
  tf.dispose(params.map((p) => p.variable));
  return path;
}

/** `path` rewritten with its tensors and metadata changed by `edit`. */
async function edited(
  path: string,
  edit: (d: ReturnType<typeof decodeSafetensors>) => void,
): Promise<string> {
  const decoded = decodeSafetensors(await Deno.readFile(path));
  edit(decoded);
  const out = path.replace(".safetensors", "-edited.safetensors");
  await Deno.writeFile(out, encodeSafetensors(decoded.tensors, decoded.metadata));
  return out;
}

/** Loads `path` into fresh parameters and optimiser; disposes them. */
async function load(path: string, recipeYaml?: string, steps = 10) {
  const params = parameters();
  const opt = new AdamW(params, {});
  try {
    const expect = recipeYaml === undefined ? undefined : { recipeYaml, steps };
    return await loadCheckpoint(path, { parameters: params, optimizer: opt }, expect);
  } finally {
    opt.dispose();
    tf.dispose(params.map((p) => p.variable));
  }
}

Deno.test("latest.json: its file must be a step checkpoint of the folder, numbered its step", async () => {
  const dir = await Deno.makeTempDir();
  assert.equal(await latestCheckpoint(dir), undefined, "no latest.json: no checkpoint");
  const cases: [unknown, RegExp][] = [
    [{ step: 3 }, /latest\.json: "file" is undefined; expected a step checkpoint/],
    [[], /"file" is undefined/],
    [{ step: 3, file: "../recipe.yaml" }, /"file" is "\.\.\/recipe\.yaml"/],
    [{ step: 4, file: "step-000003.safetensors" }, /"step" is 4 but "file" is step-000003/],
  ];
  for (const [value, message] of cases) {
    await Deno.writeTextFile(`${dir}/latest.json`, JSON.stringify(value));
    await assert.rejects(() => latestCheckpoint(dir), message);
  }
  await Deno.writeTextFile(`${dir}/latest.json`, "{");
  await assert.rejects(() => latestCheckpoint(dir), /latest\.json is unreadable/);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("loadCheckpoint: bad files and metadata are errors naming the file and key; nothing leaks", async () => {
  const dir = await Deno.makeTempDir();
  const path = await written(dir);
  assert.equal((await load(path, RECIPE)).step, 3, "the good file loads");
  const bytes = await Deno.readFile(path);
  await Deno.writeFile(`${dir}/cut.safetensors`, bytes.slice(0, bytes.length - 100));
  await assert.rejects(() => load(`${dir}/cut.safetensors`), /cut\.safetensors: decodeSafetensors/);
  for (const step of ["", "0x2", "-2", "3.5"]) {
    const bad = await edited(path, (d) => (d.metadata["step"] = step));
    await assert.rejects(
      () => load(bad),
      new RegExp(`edited\\.safetensors: metadata "step" is ${JSON.stringify(step)}`),
    );
  }
  const future = await edited(path, (d) => (d.metadata["format_version"] = "99"));
  await assert.rejects(
    () => load(future),
    /"format_version" is "99"; this novalab reads version "1"/,
  );
  const before = tf.memory().numTensors;
  const noMoment = await edited(path, (d) => {
    d.tensors.delete([...d.tensors.keys()].find((k) => k.startsWith("optim.v"))!);
  });
  await assert.rejects(() => load(noMoment), /edited\.safetensors: AdamW\.load/);
  assert.equal(tf.memory().numTensors, before, "a failed optimiser load leaks nothing");
  const ints = await edited(path, (d) => {
    d.tensors.set("b", { shape: [2], data: Int32Array.of(1, 2) });
  });
  await assert.rejects(() => load(ints), /parameter "b" is stored as I32; expected F32/);
  const early = await edited(path, (d) => (d.metadata["step"] = "2"));
  await assert.rejects(
    () => load(early),
    /"optim\.step" counts 3 updates but metadata "step" only 2/,
  );
  await Deno.remove(dir, { recursive: true });
});

Deno.test("a resume refuses another recipe (naming what differs), a foreign tensor, steps done", async () => {
  const dir = await Deno.makeTempDir();
  const path = await written(dir);
  // Evaluation, cadence, the name and file locations may change.
  const moved = RECIPE.replace("/data/mnist", "/mnt/other").replace("log_every: 5", "log_every: 1")
    .replace("checkpoint_every: 5", "checkpoint_every: 2").replace("name: tiny", "name: again")
    .replace("zero_shot", "retrieval");
  assert.equal((await load(path, moved)).step, 3);
  const changed = RECIPE.replace("lr: 0.001", "lr: 0.5").replace("seed: 0", "seed: 5");
  await assert.rejects(
    () => load(path, changed),
    /differs from the one that wrote this checkpoint at seed: 0 → 5; train\.optimizer\.lr: 0\.001 → 0\.5/,
  );
  await assert.rejects(
    () => load(path, RECIPE, 2),
    /at step 3, past the recipe's train\.steps 2; nothing is left to train/,
  );
  const foreign = await edited(path, (d) => {
    d.tensors.set("bogus.weight", { shape: [1], data: Float32Array.of(1) });
  });
  await assert.rejects(
    () => load(foreign, RECIPE),
    /tensor "bogus\.weight" belongs to no parameter/,
  );
  // Without a recipe (evaluation reads a step checkpoint with fewer parameters) it is not checked.
  assert.equal((await load(foreign)).step, 3);
  // A checkpoint from before the fingerprint resumes unchecked.
  const old = await edited(path, (d) => delete d.metadata["training_recipe"]);
  assert.equal((await load(old, changed)).step, 3);
  await Deno.remove(dir, { recursive: true });
});
