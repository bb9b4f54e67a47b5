/**
 * The recipes that ship with novalab, usable without their files: from a
 * checkout they are also `recipes/*.yaml`, but a package installed from JSR
 * has no working directory of recipes, so the texts are embedded in the
 * module graph (`recipes/embedded.ts`, generated from the YAML files).
 *
 * ```ts
 * import { loadShippedRecipe, shippedRecipeNames } from "./shipped_recipes.ts";
 *
 * console.log(shippedRecipeNames()); // ["clip", "clip_bridge", …, "nova", …]
 * const recipe = loadShippedRecipe("nova", ["train.steps=3"]);
 * console.log(recipe.name, recipe.train.steps); // nova 3
 * ```
 *
 * @module
 */
import { RECIPE_FILES } from "../recipes/embedded.ts";
import { loadRunnableFromText } from "./recipe_runnable.ts";
import type { RunnableRecipe } from "./run.ts";

/** Folder the embedded paths are relative to; it also prefixes file names in error messages. */
const FOLDER = "recipes/";

/**
 * Names of the shipped top-level recipes (`nova`, `clip`, …), sorted; the
 * shared bases under `base/` are not listed (recipes extend them).
 */
export function shippedRecipeNames(): string[] {
  return Object.keys(RECIPE_FILES)
    .filter((path) => !path.includes("/"))
    .map((path) => path.replace(/\.yaml$/, ""))
    .sort();
}

/** `nova`, `nova.yaml` or `recipes/nova.yaml` → the embedded key `nova.yaml`. */
function keyOf(name: string): string {
  const bare = name.startsWith(FOLDER) ? name.slice(FOLDER.length) : name;
  return bare.endsWith(".yaml") ? bare : `${bare}.yaml`;
}

/**
 * The YAML text of a shipped recipe, as in `recipes/<name>.yaml` (its
 * `extends` still unresolved).
 *
 * @param name `nova`, `nova.yaml`, `recipes/nova.yaml` or `base/mnist.yaml`.
 * @throws Error naming the shipped recipes when there is no such recipe.
 */
export function shippedRecipeText(name: string): string {
  const text = RECIPE_FILES[keyOf(name)];
  if (text === undefined) {
    throw new Error(
      `no shipped recipe ${JSON.stringify(name)}; expected one of: ` +
        shippedRecipeNames().join(", "),
    );
  }
  return text;
}

/**
 * Loads a shipped recipe for `runRecipe`: its `extends` chain is read
 * from the embedded texts, `overrides` (`--set` syntax) are applied, and it is
 * validated against the built-in components. Error locations name
 * `recipes/<file>.yaml`, as in a checkout.
 *
 * @param name `nova`, `nova.yaml` or `recipes/nova.yaml` (see {@link shippedRecipeNames}).
 * @param overrides `--set` overrides such as `"train.steps=100"`, applied in order.
 * @throws Error for an unknown name; `RecipeError` for an invalid override.
 */
export function loadShippedRecipe(name: string, overrides: string[] = []): RunnableRecipe {
  const key = keyOf(name);
  const text = shippedRecipeText(name);
  return loadRunnableFromText(text, {
    file: FOLDER + key,
    overrides,
    readFile: (path) => {
      const normalized = path.split("\\").join("/");
      const embedded = normalized.startsWith(FOLDER)
        ? RECIPE_FILES[normalized.slice(FOLDER.length)]
        : undefined;
      if (embedded === undefined) {
        throw new Deno.errors.NotFound(`${path} is not one of the shipped recipe files`);
      }
      return embedded;
    },
  });
}
