/**
 * The recipe language: YAML with `extends`, `${var}` interpolation and
 * `--set` overrides, validated against the component registries into a
 * {@link ResolvedRecipe}, with file:line:col for every value and precise
 * {@link RecipeError}s.
 *
 * ```ts
 * import { loadRecipe } from "./mod.ts";
 * import * as registries from "../components.ts";
 * import "../builtins.ts"; // registers the built-in components
 * const loaded = await loadRecipe("recipes/nova.yaml", {
 *   overrides: ["train.batch=64"],
 *   registries,
 * });
 * console.log(loaded.recipe.train.batch, loaded.locate("losses[0].weight"));
 * ```
 *
 * @module
 */
export { loadRecipe, loadRecipeFromText } from "./load.ts";
export type { LoadedRecipe, LoadRecipeOptions, LoadRecipeTextOptions } from "./load.ts";
export type { Registries } from "./components.ts";
export type { ReadFile } from "./extends.ts";
export { formatIssue, formatLocation, RecipeError } from "./errors.ts";
export type { RecipeIssue } from "./errors.ts";
export { formatResolvedRecipe } from "./format.ts";
export { formatKeyPath, parseKeyPath } from "./tree.ts";
export type { PathSegment } from "./tree.ts";
export { BATCH_FIELDS } from "./types.ts";
export type {
  BackendChoice,
  EmaConfig,
  NodeInit,
  OptimizerConfig,
  ResolvedData,
  ResolvedEval,
  ResolvedLoss,
  ResolvedNode,
  ResolvedRecipe,
  ScheduleConfig,
  TrainConfig,
} from "./types.ts";
