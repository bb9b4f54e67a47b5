/**
 * Loading a recipe: YAML (with locations) → `extends` merge → `--set`
 * overrides → `${var}` interpolation → validation against the registries.
 * Every failure is a {@link RecipeError} naming file:line:col, key path,
 * the bad value, what was expected and the valid choices.
 *
 * @module
 */
import { basename, extname } from "node:path";
import type { SourceLocation } from "../types.ts";
import type { Registries } from "./components.ts";
import { RecipeError } from "./errors.ts";
import { loadWithExtends, type ReadFile } from "./extends.ts";
import { interpolate } from "./interpolate.ts";
import { applyOverrides } from "./overrides.ts";
import { indexLocations, lookupLocation, parseKeyPath, type PathSegment, toPlain } from "./tree.ts";
import type { ResolvedRecipe } from "./types.ts";
import { validateRecipe } from "./validate.ts";

/** A loaded recipe: the resolved data plus where every value came from. */
export interface LoadedRecipe {
  /** The validated recipe with defaults applied. */
  recipe: ResolvedRecipe;
  /** Files read: the recipe itself first, then its `extends` chain depth-first. */
  sources: string[];
  /**
   * Where the value at `keyPath` (`losses[0].weight`, `nodes.pred.layers[2]`)
   * was written: the file that supplied it after merging, or the `--set`
   * override. Paths without a location of their own (defaults) resolve to
   * their nearest located ancestor; `undefined` for a malformed path.
   */
  locate(keyPath: string): SourceLocation | undefined;
  /** The merged, interpolated recipe as plain data, before validation. */
  raw: Record<string, unknown>;
}

/** Options of {@link loadRecipe}. */
export interface LoadRecipeOptions {
  /** `--set` overrides, e.g. `"train.batch=64"`, applied in order. */
  overrides?: string[];
  /** Registries the recipe's kinds are validated against. */
  registries: Registries;
  /** Reads extended files (default: `Deno.readTextFileSync`). */
  readFile?: ReadFile;
  /** `skip`: drop `--set vars.x=…` for a var the recipe lacks (sweeps); default `error`. */
  undeclaredVars?: "error" | "skip";
}

/** Options of {@link loadRecipeFromText}. */
export interface LoadRecipeTextOptions extends LoadRecipeOptions {
  /** File the text came from: locations, `extends` base folder, default name (default `<inline>`). */
  file?: string;
}

function stem(file: string): string {
  const name = basename(file, extname(file)).replace(/^<|>$/g, "");
  return name === "" ? "recipe" : name;
}

/**
 * Loads a recipe from YAML text, synchronously (extended files are read with
 * `options.readFile`). Throws {@link RecipeError} listing every problem.
 */
export function loadRecipeFromText(text: string, options: LoadRecipeTextOptions): LoadedRecipe {
  const file = options.file ?? "<inline>";
  const sources: string[] = [];
  const readFile = options.readFile ?? ((path: string) => Deno.readTextFileSync(path));
  const merged = loadWithExtends(text, file, { readFile, sources });
  const fail = (issues: ConstructorParameters<typeof RecipeError>[0]): never => {
    throw new RecipeError(issues, { fileOrder: sources });
  };
  const overridden = applyOverrides(merged, options.overrides ?? [], {
    undeclaredVars: options.undeclaredVars,
  });
  if (overridden.issues.length > 0) fail(overridden.issues);
  const interpolated = interpolate(overridden.tree);
  if (interpolated.issues.length > 0) fail(interpolated.issues);
  const tree = interpolated.tree;
  const index = indexLocations(tree);
  const locatePath = (path: PathSegment[], key?: boolean): SourceLocation =>
    (key ? lookupLocation(index.keys, path) : undefined) ??
      lookupLocation(index.values, path) ?? { file, line: 1, column: 1 };
  const raw = toPlain(tree) as Record<string, unknown>;
  const result = validateRecipe(raw, {
    registries: options.registries,
    locate: locatePath,
    defaultName: stem(file),
  });
  if (!result.recipe) return fail(result.issues);
  const locate = (keyPath: string): SourceLocation | undefined => {
    const path = keyPath === "" ? [] : parseKeyPath(keyPath);
    return path ? lookupLocation(index.values, path) : undefined;
  };
  return { recipe: result.recipe, sources, locate, raw };
}

/**
 * Loads the recipe at `path` (relative to the working directory), its
 * `extends` chain and `options.overrides`, and validates it against
 * `options.registries`. Throws {@link RecipeError} listing every problem.
 */
export async function loadRecipe(path: string, options: LoadRecipeOptions): Promise<LoadedRecipe> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "file not found" : String(e);
    throw new RecipeError([{
      location: { file: path, line: 0, column: 0 },
      keyPath: "",
      message: `cannot read recipe: ${why}`,
      expected: "the path of a recipe YAML file, relative to the working directory",
    }]);
  }
  return loadRecipeFromText(text, { ...options, file: path });
}
