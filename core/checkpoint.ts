/**
 * Checkpoints: model parameters and optimiser state in one `.safetensors`
 * file per save (`checkpoints/step-000500.safetensors`, the number being the
 * count of completed optimiser steps), plus `checkpoints/latest.json` naming
 * the newest one. Format and tensor names: docs/checkpoints.md.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeFileAtomic, writeJsonAtomic } from "./atomic.ts";
import type { AdamW } from "./optim.ts";
import { decodeSafetensors, encodeSafetensors } from "./safetensors.ts";
import type { Parameter } from "./types.ts";
import type { Tensor } from "./tensor.ts";
import { EMA_PREFIX, type WeightAverage } from "./weight_average.ts";

/** Version of the checkpoint layout written in the metadata. */
export const CHECKPOINT_FORMAT_VERSION = "1";

/** What `latest.json` records. */
export interface LatestCheckpoint {
  /** Completed optimiser steps. */
  step: number;
  /** File name inside the checkpoint folder. */
  file: string;
}

/** File name of the checkpoint after `step` completed steps. */
export function checkpointFile(step: number): string {
  return `step-${String(step).padStart(6, "0")}.safetensors`;
}

/** Saves parameters (and optimiser state when given) after `step` completed steps. */
export async function saveCheckpoint(
  dir: string,
  state: {
    step: number;
    parameters: Parameter[];
    optimizer?: AdamW;
    /** The weight average (`train.ema`): its `ema.<param>` tensors. */
    average?: WeightAverage;
    metadata: Record<string, string>;
  },
): Promise<string> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array | Int32Array }>();
  const add = async (name: string, t: Tensor) => {
    const data = await t.data();
    tensors.set(name, {
      shape: [...t.shape],
      data: t.dtype === "int32" ? Int32Array.from(data) : Float32Array.from(data),
    });
  };
  for (const p of state.parameters) await add(p.name, p.variable);
  if (state.optimizer) {
    const optimState = state.optimizer.state();
    for (const [name, t] of optimState) await add(name, t);
    for (const t of optimState.values()) {
      if (!state.parameters.some((p) => p.variable === t)) t.dispose();
    }
  }
  if (state.average) {
    const averages = state.average.state();
    try {
      for (const [name, t] of averages) await add(name, t);
    } finally {
      tf.dispose([...averages.values()]);
    }
  }
  const bytes = encodeSafetensors(tensors, {
    ...state.metadata,
    step: String(state.step),
    format_version: CHECKPOINT_FORMAT_VERSION,
  });
  const file = checkpointFile(state.step);
  await Deno.mkdir(dir, { recursive: true });
  await writeFileAtomic(`${dir}/${file}`, bytes);
  await writeJsonAtomic(
    `${dir}/latest.json`,
    { step: state.step, file } satisfies LatestCheckpoint,
  );
  return `${dir}/${file}`;
}

/** Writes the inference parameters alone to `<dir>/model.safetensors` (the user-facing export). */
export async function exportModel(
  dir: string,
  state: { step: number; parameters: Parameter[]; metadata: Record<string, string> },
): Promise<string> {
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  for (const p of state.parameters) {
    tensors.set(p.name, {
      shape: [...p.variable.shape],
      data: Float32Array.from(await p.variable.data()),
    });
  }
  const bytes = encodeSafetensors(tensors, {
    ...state.metadata,
    step: String(state.step),
    format_version: CHECKPOINT_FORMAT_VERSION,
  });
  await writeFileAtomic(`${dir}/model.safetensors`, bytes);
  return `${dir}/model.safetensors`;
}

/** Reads `latest.json` of a checkpoint folder, or undefined when there is none. */
export async function latestCheckpoint(dir: string): Promise<LatestCheckpoint | undefined> {
  try {
    return JSON.parse(await Deno.readTextFile(`${dir}/latest.json`)) as LatestCheckpoint;
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${dir}/latest.json is unreadable: ${(e as Error).message}`);
  }
}

/**
 * Loads a checkpoint into `parameters` (and the optimiser, and the weight
 * average from its `ema.*` tensors) — every parameter must be present with
 * its exact shape; the error names what differs. Returns the completed step
 * count and the metadata.
 */
export async function loadCheckpoint(
  path: string,
  target: { parameters: Parameter[]; optimizer?: AdamW; average?: WeightAverage },
): Promise<{ step: number; metadata: Record<string, string> }> {
  const { tensors, metadata } = decodeSafetensors(await Deno.readFile(path));
  if (target.average) {
    const averages = new Map<string, Tensor>();
    for (const [name, t] of tensors) {
      if (name.startsWith(EMA_PREFIX)) averages.set(name, tf.tensor(t.data, t.shape, "float32"));
    }
    try {
      target.average.load(averages);
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    } finally {
      tf.dispose([...averages.values()]);
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
    tf.tidy(() => p.variable.assign(tf.tensor(stored.data, stored.shape, "float32")));
  }
  if (target.optimizer) {
    const state = new Map<string, Tensor>();
    for (const [name, t] of tensors) {
      if (name.startsWith("optim.")) {
        state.set(
          name,
          tf.tensor(t.data, t.shape, t.data instanceof Int32Array ? "int32" : "float32"),
        );
      }
    }
    await target.optimizer.load(state);
    for (const t of state.values()) t.dispose();
  }
  const step = Number(metadata["step"]);
  if (!Number.isInteger(step)) {
    throw new Error(`${path}: metadata "step" is missing or not an integer`);
  }
  return { step, metadata };
}
