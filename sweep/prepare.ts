/**
 * Everything a sweep needs before any compute: the checked sweep file, its
 * members in expansion order, and every member's resolved recipe. What
 * `sweep --dry-run` shows and what the runner starts from.
 *
 * @module
 */
import type { RunnableRecipe } from "../core/run.ts";
import { expandSweep } from "./expand.ts";
import { loadSweep } from "./spec.ts";
import type { SweepMember, SweepSpec } from "./types.ts";
import { validateSweep } from "./validate.ts";

/** A loaded, expanded and validated sweep. */
export interface PreparedSweep {
  /** The checked sweep file. */
  spec: SweepSpec;
  /** Every member (all shards), in expansion order. */
  members: SweepMember[];
  /** Each member's resolved recipe, by member id. */
  recipes: Map<string, RunnableRecipe>;
}

/**
 * Loads the sweep file, expands it and resolves every member's recipe.
 * Throws a `RecipeError` (file:line:col, key, value, expected, choices) on
 * the first stage that finds problems.
 */
export async function prepareSweep(file: string): Promise<PreparedSweep> {
  const spec = await loadSweep(file);
  const members = expandSweep(spec);
  const recipes = await validateSweep(spec, members);
  return { spec, members, recipes };
}
