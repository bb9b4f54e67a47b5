/**
 * Recipe errors: one {@link RecipeIssue} per problem (where, which key, what
 * was wrong, what was expected, the valid choices) and {@link RecipeError},
 * which renders all of them, sorted by file and line.
 *
 * @module
 */
import type { SourceLocation } from "../types.ts";

/** One problem found in a recipe. */
export interface RecipeIssue {
  /** Where the offending value (or key) was written. */
  location: SourceLocation;
  /** Key path of the value, e.g. `losses[0].weight` (empty when unknown, e.g. YAML syntax). */
  keyPath: string;
  /** What was wrong, including the bad value as JSON (e.g. `unknown loss kind "mse"`). */
  message: string;
  /** What was expected (e.g. `a number > 0`); with `choices`, the lead-in of the list. */
  expected?: string;
  /** The valid choices, when there is a closed set (kinds, keys, node names, vars). */
  choices?: string[];
  /** Extra lines shown under the message (e.g. a source excerpt), already indented. */
  detail?: string[];
}

/**
 * Renders a location as `file:line:col`. Locations with line 0 are not in a
 * file (e.g. `--set train.batch=64`) and render as the file field alone.
 */
export function formatLocation(location: SourceLocation): string {
  if (location.line <= 0) return location.file;
  return `${location.file}:${location.line}:${location.column}`;
}

/**
 * Renders one issue as a block:
 * ```
 * recipes/bad.yaml:14:11: losses[0].kind: unknown loss kind "mse"
 *   expected one of: clip, prediction, sigreg
 * ```
 */
export function formatIssue(issue: RecipeIssue): string {
  const head = [formatLocation(issue.location), issue.keyPath, issue.message]
    .filter((part) => part !== "")
    .join(": ");
  const lines = [head];
  if (issue.choices !== undefined) {
    const list = issue.choices.length > 0 ? issue.choices.join(", ") : "(none defined)";
    lines.push(`  expected ${issue.expected ?? "one of"}: ${list}`);
  } else if (issue.expected !== undefined) {
    lines.push(`  expected ${issue.expected}`);
  }
  if (issue.detail) lines.push(...issue.detail);
  return lines.join("\n");
}

/**
 * Sorts issues by file (in `fileOrder`, then any other file such as `--set`
 * in first-seen order), then line, then column; drops exact duplicates.
 */
export function sortIssues(issues: RecipeIssue[], fileOrder: string[] = []): RecipeIssue[] {
  const rank = new Map<string, number>();
  for (const file of fileOrder) if (!rank.has(file)) rank.set(file, rank.size);
  for (const issue of issues) {
    const file = issue.location.file;
    if (!rank.has(file)) rank.set(file, rank.size);
  }
  const seen = new Set<string>();
  const unique = issues.filter((issue) => {
    const text = formatIssue(issue);
    if (seen.has(text)) return false;
    seen.add(text);
    return true;
  });
  return unique.sort((a, b) =>
    rank.get(a.location.file)! - rank.get(b.location.file)! ||
    a.location.line - b.location.line ||
    a.location.column - b.location.column
  );
}

/**
 * Thrown when a recipe cannot be loaded. `message` holds every issue, one
 * block per issue, sorted by file and line; `location` and `keyPath` are
 * those of the first issue.
 */
export class RecipeError extends Error {
  /** All issues, sorted. */
  readonly issues: RecipeIssue[];
  /** Location of the first issue. */
  readonly location: SourceLocation;
  /** Key path of the first issue (may be empty). */
  readonly keyPath: string;

  /**
   * Creates the error from every issue found.
   *
   * @param issues At least one issue.
   * @param options `fileOrder`: files in the order they should be reported (main file first).
   */
  constructor(issues: RecipeIssue[], options: { fileOrder?: string[] } = {}) {
    const sorted = sortIssues(issues, options.fileOrder);
    super(sorted.map(formatIssue).join("\n"));
    this.name = "RecipeError";
    this.issues = sorted;
    this.location = sorted[0]?.location ?? { file: "<recipe>", line: 0, column: 0 };
    this.keyPath = sorted[0]?.keyPath ?? "";
  }
}

/** Optimal-string-alignment distance: edits plus adjacent transpositions. */
function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost);
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        d[i][j] = Math.min(d[i][j], d[i - 2][j - 2] + 1);
      }
    }
  }
  return d[a.length][b.length];
}

/**
 * ` (did you mean "x"?)` when one of `choices` is a close spelling of
 * `value`, else the empty string.
 */
export function suggestion(value: string, choices: readonly string[]): string {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const choice of choices) {
    const d = editDistance(value.toLowerCase(), choice.toLowerCase());
    if (d < bestDistance) [best, bestDistance] = [choice, d];
  }
  const limit = Math.max(1, Math.floor(value.length / 3));
  return best !== undefined && bestDistance > 0 && bestDistance <= limit
    ? ` (did you mean "${best}"?)`
    : "";
}
