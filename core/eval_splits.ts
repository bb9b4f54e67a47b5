/**
 * Evaluators' split names checked against the data source once it is built,
 * before training: a misspelt `split: validation` would otherwise surface
 * after the whole run, in evaluation.
 *
 * @module
 */
import type { DataSource } from "./types.ts";
import type { RunnableRecipe } from "./run.ts";
import { suggestion } from "./recipe/errors.ts";

/** Evaluator parameters that name a split of the data source. */
const SPLIT_KEYS = ["split", "train", "val"] as const;

/**
 * Throws one error listing every evaluator parameter that names a split the
 * source does not have, each with where the recipe wrote it and the choices.
 *
 * @param recipe The recipe (its `eval` entries and where they were written).
 * @param source The built data source.
 * @param only Which evaluators to check (default all).
 */
export function checkEvalSplits(
  recipe: RunnableRecipe,
  source: DataSource,
  only: (spec: RunnableRecipe["eval"][number]) => boolean = () => true,
): void {
  const splits = Object.keys(source.splits);
  const problems: string[] = [];
  recipe.eval.forEach((spec, i) => {
    if (!only(spec)) return;
    const params = spec.params as Record<string, unknown>;
    for (const key of SPLIT_KEYS) {
      const name = params[key];
      if (typeof name !== "string" || splits.includes(name)) continue;
      const at = recipe.graph.locate?.(`eval[${i}].${key}`);
      const where = at && at.line > 0 ? `${at.file}:${at.line}:${at.column}: ` : "";
      problems.push(
        `${where}eval[${i}].${key}: ${spec.kind} reads split ${JSON.stringify(name)}` +
          `${suggestion(name, splits)}, which ${source.name} does not have\n` +
          `  expected one of: ${splits.join(", ")}`,
      );
    }
  });
  if (problems.length > 0) throw new Error(problems.join("\n"));
}
