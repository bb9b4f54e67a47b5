/**
 * What the run-level tests of recipe features share: the overrides that make
 * a shipped MNIST recipe a few-second run, a checkpoint's tensors by name,
 * and a recipe's steady-state WebGPU step replayed against the step issued
 * as written (`core/device_step.ts`), compared by their checkpoints.
 *
 * @module
 */
import assert from "node:assert/strict";
import { loadRunnable } from "../core/recipe_runnable.ts";
import type { RunnableRecipe } from "../core/run.ts";
import { decodeSafetensors } from "../core/safetensors.ts";
import { mnistDirOverride } from "./offline_data.ts";
import { writtenAndReplayed } from "./webgpu_runs.ts";

/** 256 training and 64 test images, batches of 16, a constant rate 0.01, a one-block ViT. */
export const TINY_RUN: readonly string[] = [
  "data.limit={ train: 256, test: 64 }",
  "train.batch=16",
  "train.log_every=1",
  "train.schedule.kind=constant",
  "train.optimizer.lr=0.01",
  "nodes.image.depth=1",
];

/** `recipe` (a path) with {@link TINY_RUN}, the test MNIST directory, then `overrides`. */
export function tinyRecipe(recipe: string, overrides: string[]): Promise<RunnableRecipe> {
  return loadRunnable(recipe, [...TINY_RUN, ...mnistDirOverride(), ...overrides]);
}

/** The tensors of a checkpoint whose names start with `prefix`, that prefix removed. */
export async function checkpointTensors(
  file: string,
  prefix = "",
): Promise<Map<string, Float32Array>> {
  const { tensors } = decodeSafetensors(await Deno.readFile(file));
  return new Map(
    [...tensors].filter(([k]) => k.startsWith(prefix))
      .map(([k, t]) => [k.slice(prefix.length), t.data as Float32Array]),
  );
}

/**
 * Trains `recipe` (checkpointing at `step`, its last) on WebGPU as written and
 * replayed, asserts that the replay took over (two replays at least), and
 * returns both checkpoints' tensors; the temporary directory is removed.
 */
export async function replayedCheckpoints(
  recipe: RunnableRecipe,
  step: number,
  prefix = "",
): Promise<{ written: Map<string, Float32Array>; replayed: Map<string, Float32Array> }> {
  const { dir, written, replayed } = await writtenAndReplayed(recipe, "novalab-replayed-");
  try {
    assert.equal(replayed.replay?.mode, "replaying", replayed.replay?.reason ?? "");
    assert.ok((replayed.replay?.replays ?? 0) >= 2, JSON.stringify(replayed.replay));
    const file = (run: typeof written) =>
      `${run.paths.checkpoints}/step-${String(step).padStart(6, "0")}.safetensors`;
    return {
      written: await checkpointTensors(file(written), prefix),
      replayed: await checkpointTensors(file(replayed), prefix),
    };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}
