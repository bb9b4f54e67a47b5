/**
 * Loads a recipe file into the form the runner consumes: the registries are
 * the built-in ones, the graph carries locations for error messages.
 *
 * @module
 */
import "./builtins.ts";
import { evaluators, losses, modules, sources } from "./components.ts";
import { formatResolvedRecipe, loadRecipe } from "./recipe/mod.ts";
import type { RunnableRecipe } from "./run.ts";

/** Loads, resolves and validates `path` (with `--set` overrides) for running. */
export async function loadRunnable(
  path: string,
  overrides: string[] = [],
): Promise<RunnableRecipe> {
  const loaded = await loadRecipe(path, {
    overrides,
    registries: { modules, losses, sources, evaluators },
  });
  const { recipe } = loaded;
  return {
    name: recipe.name,
    seed: recipe.seed,
    backend: recipe.backend,
    data: recipe.data,
    graph: {
      nodes: Object.entries(recipe.nodes).map(([name, node]) => ({
        name,
        kind: node.kind,
        inputs: node.input,
        phase: node.phase,
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
