/**
 * What a trained run's recipe says about using it: the embedding nodes and
 * prompt templates of its zero-shot evaluators, the `zero_shot_binary`
 * evaluator's findings and prompts, and a check that named nodes exist.
 *
 * @module
 */
import type { CompiledGraph } from "./graph_run.ts";
import type { RunnableRecipe } from "./run.ts";

/** The evaluator parameters the defaults are read from. */
export interface EvalNodes {
  image?: string;
  text?: string;
  templates?: string[];
}

/** The `zero_shot_binary` parameters the findings' defaults are read from. */
export interface BinaryDefaults {
  findings?: string[];
  positive?: string[];
  negative?: string[];
  scale?: number;
}

/** The embedding nodes and templates a recipe's evaluators name. */
export function recipeNodes(recipe: RunnableRecipe): EvalNodes {
  const named = (kind?: string) =>
    recipe.eval.map((e) => ({ kind: e.kind, params: e.params as EvalNodes }))
      .find((e) =>
        (kind === undefined || e.kind === kind) && typeof e.params.image === "string" &&
        typeof e.params.text === "string"
      )?.params;
  return named("zero_shot") ?? named() ?? {};
}

/** The parameters of the recipe's first `zero_shot_binary` evaluator (`{}` when none). */
export function recipeBinary(recipe: RunnableRecipe): BinaryDefaults {
  return (recipe.eval.find((e) => e.kind === "zero_shot_binary")?.params ?? {}) as BinaryDefaults;
}

/** Throws unless every named node is a node of the inference graph. */
export function checkNodes(
  graph: CompiledGraph,
  nodes: { image?: string; text?: string },
  given: { image?: string; text?: string },
): void {
  const names = graph.inferenceNodes().map((n) => n.name);
  for (const role of ["image", "text"] as const) {
    const node = nodes[role];
    if (node === undefined || names.includes(node)) continue;
    const from = given[role] !== undefined ? `--${role}-node` : "the recipe's evaluator";
    throw new Error(
      `${from} names ${role} node "${node}", which is not a node of the inference graph; ` +
        `expected one of: ${names.join(", ")}`,
    );
  }
}
