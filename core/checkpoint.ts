/**
 * Checkpoints: model parameters and optimiser state in one `.safetensors`
 * file per save (`checkpoints/step-000500.safetensors`, the number being the
 * count of completed optimiser steps), plus `checkpoints/latest.json` naming
 * the newest one. Format and tensor names: docs/checkpoints.md; reading them
 * back: `core/checkpoint_load.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeFileAtomic, writeJsonAtomic } from "./atomic.ts";
import type { AdamW } from "./optim.ts";
import { encodeSafetensors } from "./safetensors.ts";
import type { Parameter } from "./types.ts";
import type { Tensor } from "./tensor.ts";
import type { WeightAverage } from "./weight_average.ts";

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
