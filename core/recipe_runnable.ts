/**
 * Loads a recipe file into the form the runner consumes: the registries are
 * the built-in ones, the graph carries locations for error messages.
 *
 * @module
 */
import "./builtins.ts";
import { evaluators, losses, modules, sources } from "./components.ts";
import {
  formatResolvedRecipe,
  type LoadedRecipe,
  loadRecipe,
  loadRecipeFromText,
  type ReadFile,
} from "./recipe/mod.ts";
import type { Registries } from "./recipe/components.ts";
import type { RunnableRecipe } from "./run.ts";

/** The built-in component registries (what recipes are validated against). */
export const BUILTIN_REGISTRIES: Registries = { modules, losses, sources, evaluators };

/**
 * Loads, resolves and validates `path` (with `--set` overrides) for running;
 * `undeclaredVars: "skip"` drops overrides of vars the recipe lacks (sweeps).
 */
export async function loadRunnable(
  path: string,
  overrides: string[] = [],
  options: { undeclaredVars?: "error" | "skip" } = {},
): Promise<RunnableRecipe> {
  const loaded = await loadRecipe(path, {
    overrides,
    registries: BUILTIN_REGISTRIES,
    undeclaredVars: options.undeclaredVars,
  });
  return runnableFromLoaded(loaded);
}

/** Options of {@link loadRunnableFromText}. */
export interface RunnableTextOptions {
  /** `--set` overrides such as `"train.steps=100"`, applied in order. */
  overrides?: string[];
  /**
   * File the text stands for: error locations, the folder `extends` paths are
   * relative to, and the default run name (default `<inline>`, run name `inline`).
   */
  file?: string;
  /** Reads extended files (default: `Deno.readTextFileSync`). */
  readFile?: ReadFile;
}

/**
 * Loads a recipe from YAML text for running: `extends`, `${var}`s and
 * overrides resolved, validated against the built-in components.
 *
 * @param text The recipe's YAML.
 * @param options Overrides, the file it stands for, how extended files are read.
 * @throws RecipeError listing every problem, with file:line:col.
 */
export function loadRunnableFromText(
  text: string,
  options: RunnableTextOptions = {},
): RunnableRecipe {
  const loaded = loadRecipeFromText(text, {
    overrides: options.overrides ?? [],
    registries: BUILTIN_REGISTRIES,
    ...(options.file === undefined ? {} : { file: options.file }),
    ...(options.readFile === undefined ? {} : { readFile: options.readFile }),
  });
  return runnableFromLoaded(loaded);
}

/**
 * The form the runner consumes of a loaded recipe (e.g. one loaded from text
 * with `loadRecipeFromText` and {@link BUILTIN_REGISTRIES}).
 */
export function runnableFromLoaded(loaded: LoadedRecipe): RunnableRecipe {
  const { recipe } = loaded;
  return {
    name: recipe.name,
    seed: recipe.seed,
    backend: recipe.backend,
    precision: recipe.precision,
    data: recipe.data,
    graph: {
      nodes: Object.entries(recipe.nodes).map(([name, node]) => ({
        name,
        kind: node.kind,
        inputs: node.input,
        phase: node.phase,
        ...(node.initFrom && { initFrom: node.initFrom }),
        ...(node.freeze && { freeze: true }),
        ...(node.frozenUntil !== undefined && { frozenUntil: node.frozenUntil }),
        ...(node.unfreezeWarmup !== undefined && { unfreezeWarmup: node.unfreezeWarmup }),
        ...(node.lrScale !== undefined && { lrScale: node.lrScale }),
        ...(node.layerDecay !== undefined && { layerDecay: node.layerDecay }),
        params: node.params,
      })),
      losses: recipe.losses.map((loss) => ({ ...loss })),
      locate: (keyPath) => loaded.locate(keyPath),
    },
    train: recipe.train,
    eval: recipe.eval,
    yaml: formatResolvedRecipe(loaded),
  };
}

/** The resolved recipe as YAML (what `deno task validate` prints). */
export function formatRecipeYaml(recipe: RunnableRecipe): string {
  return recipe.yaml;
}
