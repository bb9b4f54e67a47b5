/**
 * Reading checkpoints back (`core/checkpoint.ts` writes them): `latest.json`
 * and a step checkpoint, every problem an error naming the file, the key, the
 * value and what was expected. With the resuming recipe given, a checkpoint
 * written by another recipe (its `training_recipe` metadata,
 * `core/recipe_fingerprint.ts`), or one past the recipe's `train.steps`, is
 * refused before anything is loaded.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { CHECKPOINT_FORMAT_VERSION, checkpointFile, type LatestCheckpoint } from "./checkpoint.ts";
import type { AdamW } from "./optim.ts";
import { recipeDifferences, trainingRecipe } from "./recipe_fingerprint.ts";
import { decodeSafetensors } from "./safetensors.ts";
import type { Parameter } from "./types.ts";
import type { Tensor } from "./tensor.ts";
import { EMA_PREFIX, type WeightAverage } from "./weight_average.ts";

/** `step-NNNNNN.safetensors`: the only file names `latest.json` may point to. */
const CHECKPOINT_NAME = /^step-(\d{6,})\.safetensors$/;

/**
 * Reads `latest.json` of a checkpoint folder, or undefined when there is
 * none; its `file` must be a step checkpoint of this folder whose number is
 * its `step`.
 */
export async function latestCheckpoint(dir: string): Promise<LatestCheckpoint | undefined> {
  const path = `${dir}/latest.json`;
  let value: unknown;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path} is unreadable: ${(e as Error).message}`);
  }
  const { step, file } = (value ?? {}) as Partial<LatestCheckpoint>;
  const named = typeof file === "string" ? CHECKPOINT_NAME.exec(file) : null;
  if (!named) {
    throw new Error(
      `${path}: "file" is ${JSON.stringify(file)}; expected a step checkpoint of that folder ` +
        `such as "${checkpointFile(500)}"`,
    );
  }
  if (!Number.isSafeInteger(step) || step! < 0 || Number(named[1]) !== step) {
    throw new Error(
      `${path}: "step" is ${JSON.stringify(step)} but "file" is ${file}; expected the step ` +
        `${Number(named[1])}`,
    );
  }
  return { step: step!, file: file! };
}

/** What a resume expects of a checkpoint (absent: nothing is checked against a recipe). */
export interface ResumeExpectations {
  /** The resuming recipe, resolved (`RunnableRecipe.yaml`). */
  recipeYaml: string;
  /** Its `train.steps`: a checkpoint past them is refused. */
  steps: number;
}

/** The checkpoint's completed steps, checked: digits only. */
function stepOf(path: string, metadata: Record<string, string>): number {
  const text = metadata["step"];
  if (text === undefined || !/^\d+$/.test(text)) {
    throw new Error(
      `${path}: metadata "step" is ${JSON.stringify(text)}; expected the completed steps as ` +
        `decimal digits (e.g. "500")`,
    );
  }
  const version = metadata["format_version"];
  if (version !== undefined && version !== CHECKPOINT_FORMAT_VERSION) {
    throw new Error(
      `${path}: metadata "format_version" is "${version}"; this novalab reads version ` +
        `"${CHECKPOINT_FORMAT_VERSION}"`,
    );
  }
  return Number(text);
}

/** Refuses a checkpoint another recipe wrote, or one past the recipe's steps. */
function checkResume(
  path: string,
  metadata: Record<string, string>,
  step: number,
  expect: ResumeExpectations,
): void {
  const saved = metadata["training_recipe"];
  if (saved !== undefined) {
    const differences = recipeDifferences(
      JSON.parse(saved),
      JSON.parse(trainingRecipe(expect.recipeYaml)),
    );
    if (differences.length > 0) {
      throw new Error(
        `${path}: the resuming recipe differs from the one that wrote this checkpoint at ` +
          `${differences.slice(0, 8).join("; ")}${differences.length > 8 ? "; …" : ""}. A ` +
          "resumed run must train as it started (what may change — eval, cadence, vars, file " +
          "locations, … — is listed in docs/checkpoints.md): restore those values, or start a " +
          "new run",
      );
    }
  }
  if (step > expect.steps) {
    throw new Error(
      `${path}: the checkpoint is at step ${step}, past the recipe's train.steps ` +
        `${expect.steps}; nothing is left to train (evaluate it with deno task eval)`,
    );
  }
}

/** Tensors named `prefix…` of a checkpoint as tfjs tensors (int32 where stored so). */
function tensorsNamed(
  tensors: Map<string, { shape: number[]; data: Float32Array | Int32Array }>,
  keep: (name: string) => boolean,
): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [name, t] of tensors) {
    if (!keep(name)) continue;
    out.set(name, tf.tensor(t.data, t.shape, t.data instanceof Int32Array ? "int32" : "float32"));
  }
  return out;
}

/**
 * Loads a checkpoint into `parameters` (and the optimiser, and the weight
 * average from its `ema.*` tensors) — every parameter must be present, as
 * float32, with its exact shape; the error
 * names what differs. With `expect` (a resume), a checkpoint of another
 * recipe or past its steps is refused first, and so is a tensor no parameter
 * reads. Returns the completed step count and the
 * metadata.
 */
export async function loadCheckpoint(
  path: string,
  target: { parameters: Parameter[]; optimizer?: AdamW; average?: WeightAverage },
  expect?: ResumeExpectations,
): Promise<{ step: number; metadata: Record<string, string> }> {
  let decoded: ReturnType<typeof decodeSafetensors>;
  try {
    decoded = decodeSafetensors(await Deno.readFile(path));
  } catch (e) {
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  const { tensors, metadata } = decoded;
  const step = stepOf(path, metadata);
  if (expect) checkResume(path, metadata, step, expect);
  // Applied updates: the completed steps, less any the step guard skipped.
  const updates = tensors.get("optim.step")?.data[0];
  if (target.optimizer && updates !== undefined && updates > step) {
    throw new Error(
      `${path}: the optimiser state "optim.step" counts ${updates} updates but metadata ` +
        `"step" only ${step} completed steps; expected at most ${step}`,
    );
  }
  // A resume reloads the whole training state: a tensor it would not read means another model.
  const known = new Set(target.parameters.map((p) => p.name));
  for (const name of expect ? tensors.keys() : []) {
    const other = name.startsWith("optim.") || name.startsWith(EMA_PREFIX);
    if (!known.has(name) && !other) {
      throw new Error(
        `${path}: tensor "${name}" belongs to no parameter of this model (was it written by a ` +
          "different recipe?)",
      );
    }
  }
  for (const p of target.parameters) {
    const stored = tensors.get(p.name);
    if (!stored) {
      throw new Error(
        `${path}: parameter "${p.name}" is missing (the checkpoint has ${tensors.size} tensors; ` +
          `was it written by a different recipe?)`,
      );
    }
    if (!tf.util.arraysEqual(stored.shape, p.variable.shape)) {
      throw new Error(
        `${path}: parameter "${p.name}" has shape [${stored.shape}] in the checkpoint, ` +
          `[${p.variable.shape}] in the model`,
      );
    }
    if (!(stored.data instanceof Float32Array)) {
      throw new Error(`${path}: parameter "${p.name}" is stored as I32; expected F32`);
    }
  }
  if (target.average) {
    const averages = tensorsNamed(tensors, (name) => name.startsWith(EMA_PREFIX));
    try {
      target.average.load(averages);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    } finally {
      tf.dispose([...averages.values()]);
    }
  }
  for (const p of target.parameters) {
    const stored = tensors.get(p.name)!;
    tf.tidy(() => p.variable.assign(tf.tensor(stored.data, stored.shape, "float32")));
  }
  if (target.optimizer) {
    const state = tensorsNamed(tensors, (name) => name.startsWith("optim."));
    try {
      await target.optimizer.load(state);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    } finally {
      tf.dispose([...state.values()]);
    }
  }
  return { step, metadata };
}
