/**
 * Evaluators' data checked once the sources are built, before training: the
 * split names they read (a misspelt `split: validation`) and what each
 * evaluator needs from its source (`Evaluator.check`: class names, findings)
 * would otherwise surface after the whole run, in evaluation.
 *
 * @module
 */
import { evaluators, SourceCheckError } from "./components.ts";
import type { DataSource } from "./types.ts";
import type { RunnableRecipe } from "./run.ts";
import { EvalSources } from "./eval_sources.ts";
import { formatLocation, suggestion } from "./recipe/errors.ts";

/** Evaluator parameters that name a split of the data source. */
const SPLIT_KEYS = ["split", "train", "val"] as const;

/** `file:line:column: ` of a key path of the recipe (`--set …: ` for an override), or "". */
function where(recipe: RunnableRecipe, key: string): string {
  const at = recipe.graph.locate?.(key);
  return at?.file ? `${formatLocation(at)}: ` : "";
}

/** The problems with the splits `eval[index]` names. */
function splitProblems(recipe: RunnableRecipe, index: number, source: DataSource): string[] {
  const spec = recipe.eval[index]!;
  const splits = Object.keys(source.splits);
  const which = spec.data ? `eval[${index}].data (${source.name})` : source.name;
  const params = spec.params as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of SPLIT_KEYS) {
    const name = params[key];
    if (typeof name !== "string" || splits.includes(name)) continue;
    problems.push(
      `${where(recipe, `eval[${index}].${key}`)}eval[${index}].${key}: ${spec.kind} reads ` +
        `split ${JSON.stringify(name)}${suggestion(name, splits)}, which ${which} does not ` +
        `have\n  expected one of: ${splits.join(", ")}`,
    );
  }
  return problems;
}

/** The evaluator's own check of its source (`Evaluator.check`), as a located problem. */
function evaluatorProblem(
  recipe: RunnableRecipe,
  index: number,
  source: DataSource,
): string | undefined {
  const spec = recipe.eval[index]!;
  const evaluator = evaluators.get(spec.kind).create(spec.params);
  try {
    evaluator.check?.(source);
    return undefined;
  } catch (e) {
    const at = e instanceof SourceCheckError ? `eval[${index}].${e.param}` : undefined;
    const key = at && where(recipe, at) ? at : spec.data ? `eval[${index}].data` : `eval[${index}]`;
    return `${where(recipe, key)}${key}: ${e instanceof Error ? e.message : e}`;
  }
}

/**
 * Throws one error listing every evaluator parameter that names a split its
 * source does not have (with where the recipe wrote it and the choices) and
 * every evaluator whose source lacks what it needs.
 *
 * @param recipe The recipe (its `eval` entries and where they were written).
 * @param source The built data source, or every evaluator's ({@link EvalSources}).
 * @param only Which evaluators to check (default all).
 */
export function checkEvalData(
  recipe: RunnableRecipe,
  source: DataSource | EvalSources,
  only: (spec: RunnableRecipe["eval"][number]) => boolean = () => true,
): void {
  const problems: string[] = [];
  recipe.eval.forEach((spec, i) => {
    if (!only(spec)) return;
    const own = source instanceof EvalSources ? source.of(i) : source;
    const splits = splitProblems(recipe, i, own);
    problems.push(...splits);
    // An evaluator's check may read its split: only once the splits are right.
    const problem = splits.length === 0 ? evaluatorProblem(recipe, i, own) : undefined;
    if (problem) problems.push(problem);
  });
  if (problems.length > 0) throw new Error(problems.join("\n"));
}
