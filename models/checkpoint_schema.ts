/**
 * The recipe parameter `checkpoint` of the transformer towers (`vit`,
 * `text_transformer`): `true` checkpoints every block, a number N the first N
 * (`models/checkpoint.ts` `checkpointsBlock`), `false` none.
 *
 * @module
 */
import { z } from "zod";
import { positiveInt } from "../core/schema.ts";
import type { BlockCheckpointing } from "./checkpoint.ts";

/**
 * The schema of `checkpoint`, default `false`.
 *
 * @param saved What a checkpointed block of the tower keeps (its input, and
 *   any masks), for the description.
 * @returns A boolean-or-count schema.
 */
export function checkpointParam(saved: string): z.ZodType<BlockCheckpointing> {
  return z.union([z.boolean(), positiveInt()]).default(false).describe(
    `Activation checkpointing (open_clip's \`--grad-checkpointing\`): a checkpointed block keeps ` +
      `only ${saved} for the backward pass and runs again there — a step holds one tensor per ` +
      "block instead of everything the block saves, for ≈ a third more compute per block; " +
      "exact (same values and gradients). `true`: every block; N: the first N blocks (the rest " +
      "keep their activations: memory and time between none and all).",
  ) as unknown as z.ZodType<BlockCheckpointing>;
}

/**
 * The checkpointing of a tower of `depth` blocks, as its config takes it:
 * absent for none, `true` for all (N ≥ depth), else N.
 *
 * @param setting The parsed parameter.
 * @param depth The tower's blocks.
 * @param node The node's name, for the error.
 * @returns The config field, or `undefined` for none.
 */
export function blockCheckpointing(
  setting: BlockCheckpointing | undefined,
  depth: number,
  node: string,
): BlockCheckpointing | undefined {
  if (setting === undefined || setting === false) return undefined;
  if (setting === true) return true;
  if (setting > depth) {
    throw new Error(
      `node "${node}": checkpoint ${setting} exceeds its ${depth} blocks; give 1–${depth} ` +
        "(the first N blocks) or true (all)",
    );
  }
  return setting === depth ? true : setting;
}
