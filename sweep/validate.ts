/**
 * Resolving every member's recipe before any compute, so a typo in a sweep
 * file fails in a second, not after hours of training. A problem caused by a
 * member's override points at the sweep-file line that wrote the override
 * (`set[0]`, `grid["vars.lambda"][2]`, `toggles.no_fusion.set[0]`); the same
 * problem in many members is reported once, naming them.
 *
 * @module
 */
import { RecipeError, type RecipeIssue, suggestion } from "../core/recipe/errors.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import type { RunnableRecipe } from "../core/run.ts";
import type { SweepMember, SweepSpec } from "./types.ts";

const SET_FILE = "--set ";

/** Moves an issue located at a member's `--set` override to where the sweep file wrote it. */
function relocate(issue: RecipeIssue, member: SweepMember, spec: SweepSpec): RecipeIssue {
  if (!issue.location.file.startsWith(SET_FILE) || issue.location.line !== 0) return issue;
  const origin = member.origins[issue.location.column - 1];
  if (origin === undefined) return issue;
  const text = issue.location.file.slice(SET_FILE.length);
  return {
    ...issue,
    location: spec.locate(origin),
    keyPath: origin,
    message: `${JSON.stringify(text)}: ${
      issue.keyPath ? `${issue.keyPath}: ` : ""
    }${issue.message}`,
  };
}

/** `vars.lambda` of an override `vars.lambda=0.1`. */
function varOf(set: string): string {
  return set.slice(0, set.indexOf("=")).trim();
}

function membersText(ids: string[]): string {
  if (ids.length === 1) return `member ${ids[0]}`;
  const shown = ids.slice(0, 3).join(", ");
  return ids.length > 3 ? `members ${shown} and ${ids.length - 3} more` : `members ${shown}`;
}

/**
 * Loads every member's recipe with its `--set` list and returns them by
 * member id. Throws one {@link RecipeError} listing every distinct problem
 * (with the members it affects) when any member does not resolve.
 */
export async function validateSweep(
  spec: SweepSpec,
  members: readonly SweepMember[],
): Promise<Map<string, RunnableRecipe>> {
  const resolved = new Map<string, RunnableRecipe>();
  const problems = new Map<string, { issue: RecipeIssue; ids: string[] }>();
  const fileOrder = [spec.file];
  // A var only some recipes declare (a grid over NOVA's λ beside CLIP) is skipped where it is
  // undeclared; it is an error only when no member that sets it declares it.
  const undeclared = new Map<string, { issue: RecipeIssue; member: SweepMember; ids: string[] }>();
  const declaredBySome = new Set<string>();
  const note = (raw: RecipeIssue, member: SweepMember) => {
    const issue = relocate(raw, member, spec);
    const key = JSON.stringify(issue);
    const entry = problems.get(key) ?? { issue, ids: [] };
    entry.ids.push(member.id);
    problems.set(key, entry);
  };
  for (const member of members) {
    try {
      resolved.set(member.id, await loadRunnable(member.recipe_file, member.sets));
      for (const set of member.sets) if (set.startsWith("vars.")) declaredBySome.add(varOf(set));
    } catch (e) {
      if (!(e instanceof RecipeError)) {
        throw new Error(`${spec.file}: member ${member.id}: ${(e as Error).message}`);
      }
      fileOrder.push(member.recipe_file);
      const unknownVars = e.issues.filter((i) => /^unknown var /.test(i.message));
      if (unknownVars.length === e.issues.length) {
        for (const issue of unknownVars) {
          const entry = undeclared.get(issue.keyPath) ?? { issue, member, ids: [] };
          entry.ids.push(member.id);
          undeclared.set(issue.keyPath, entry);
        }
        const undeclaredHere = new Set(unknownVars.map((i) => i.keyPath));
        for (const set of member.sets) {
          if (set.startsWith("vars.") && !undeclaredHere.has(varOf(set))) {
            declaredBySome.add(varOf(set));
          }
        }
        try {
          const lenient = { undeclaredVars: "skip" as const };
          resolved.set(member.id, await loadRunnable(member.recipe_file, member.sets, lenient));
        } catch (again) {
          if (!(again instanceof RecipeError)) throw again;
          for (const raw of again.issues) note(raw, member);
        }
        continue;
      }
      for (const raw of e.issues) note(raw, member);
    }
  }
  for (const [key, { issue, member, ids }] of undeclared) {
    if (declaredBySome.has(key)) continue;
    const located = relocate(issue, member, spec);
    problems.set(JSON.stringify(located), { issue: located, ids });
  }
  if (problems.size > 0) {
    const issues = [...problems.values()].map(({ issue, ids }) => ({
      ...issue,
      message: `${issue.message} (${membersText(ids)})`,
    }));
    throw new RecipeError(issues, { fileOrder });
  }
  checkMetricKeys(spec, resolved);
  return resolved;
}

/**
 * Every metric key must start with the name of an evaluator some member runs
 * (`<evaluator name>.<metric>`, the name possibly holding dots; `<name>_raw`
 * too where `train.ema.evaluate` is `both`): a key no
 * member can produce would only show as "–" in the report after the sweep.
 */
function checkMetricKeys(spec: SweepSpec, resolved: Map<string, RunnableRecipe>): void {
  // With train.ema.evaluate: both, evaluator x also saves the raw weights' results as x_raw.
  const resultNames = (r: RunnableRecipe) =>
    r.eval.flatMap((e) => r.train.ema?.evaluate === "both" ? [e.name, `${e.name}_raw`] : [e.name]);
  const names = [...new Set([...resolved.values()].flatMap(resultNames))];
  const issues: RecipeIssue[] = [];
  spec.metrics.forEach((metric, i) => {
    const prefixes: string[] = [];
    for (let at = metric.key.indexOf("."); at > 0; at = metric.key.indexOf(".", at + 1)) {
      prefixes.push(metric.key.slice(0, at));
    }
    if (prefixes.some((p) => names.includes(p))) return;
    const keyPath = `metrics[${i}].key`;
    issues.push({
      location: spec.locate(keyPath),
      keyPath,
      message: `no member runs an evaluator named ${JSON.stringify(prefixes[0] ?? metric.key)}` +
        `${suggestion(prefixes[0] ?? metric.key, names)} (key ${JSON.stringify(metric.key)})`,
      expected: "<evaluator name>.<metric>, the evaluator one of",
      choices: names,
    });
  });
  if (issues.length > 0) throw new RecipeError(issues, { fileOrder: [spec.file] });
}
