/**
 * Loading a sweep file (`recipes/sweeps/*.yaml`): YAML with locations → the
 * schema → checks that every recipe file exists, every `set` string parses,
 * every toggle names known recipes and member ids are unique. Every problem
 * is a {@link RecipeError} naming file:line:col, key path, value, what was
 * expected and the valid choices — the same style as recipe errors.
 * {@link validateSweep} (in `validate.ts`) then resolves every member's recipe.
 *
 * @module
 */
import { basename, dirname, extname, isAbsolute, join, normalize } from "node:path";
import { z } from "zod";
import { RecipeError, type RecipeIssue, suggestion } from "../core/recipe/errors.ts";
import { parseOverride } from "../core/recipe/overrides.ts";
import {
  formatKeyPath,
  indexLocations,
  lookupLocation,
  parseKeyPath,
  type PathSegment,
  toPlain,
} from "../core/recipe/tree.ts";
import { parseYaml } from "../core/recipe/yaml_source.ts";
import { issuesFromZod, objectKeysAt } from "../core/recipe/zod_issues.ts";
import type { SourceLocation } from "../core/types.ts";
import { expandSweep, formatValue } from "./expand.ts";
import type { SweepSpec } from "./types.ts";

const LABEL = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const label = (what: string) =>
  z.string().regex(
    LABEL,
    `expected ${what}: a letter or "_", then letters, digits, "_", "." or "-" ` +
      `("+", "," and "=" separate the parts of member ids)`,
  );

const schema = z.strictObject({
  name: label("a sweep name").optional(),
  recipes: z.record(label("a recipe label"), z.string().min(1)).refine(
    (r) => Object.keys(r).length > 0,
    "expected at least one `label: path/to/recipe.yaml` entry",
  ),
  set: z.array(z.string()).default([]),
  grid: z.record(
    z.string().min(1),
    z.array(z.unknown().refine((v) => v !== null && v !== undefined, "expected a value"))
      .min(1),
  ).default({}),
  toggles: z.record(
    label("a toggle name"),
    z.strictObject({
      description: z.string().optional(),
      recipes: z.array(z.string()).min(1).optional(),
      set: z.array(z.string()).min(1),
    }),
  ).default({}),
  seeds: z.array(z.number().int().min(0)).min(1).default([0]),
  metrics: z.array(z.strictObject({
    label: z.string().min(1),
    key: z.string().regex(
      /^[^.]+\..+$/,
      "expected <evaluator name>.<metric>, e.g. zero_shot.top1 or diagnostics.gap",
    ),
    better: z.enum(["higher", "lower"]).default("higher"),
  })).min(1),
});

type Parsed = z.infer<typeof schema>;

interface Checker {
  file: string;
  locate(path: PathSegment[], key?: boolean): SourceLocation;
  issues: RecipeIssue[];
}

function readError(file: string, e: unknown): RecipeError {
  const why = e instanceof Deno.errors.NotFound ? "file not found" : String(e);
  return new RecipeError([{
    location: { file, line: 0, column: 0 },
    keyPath: "",
    message: `cannot read sweep file: ${why}`,
    expected: "the path of a sweep YAML file (e.g. recipes/sweeps/nova_lambda.yaml)",
  }]);
}

/** Resolves a recipe path written in the sweep file against the sweep file's folder. */
export function resolveRecipePath(sweepFile: string, path: string): string {
  return isAbsolute(path) ? normalize(path) : normalize(join(dirname(sweepFile), path));
}

function yamlSiblings(dir: string): string[] {
  try {
    return [...Deno.readDirSync(dir)].filter((e) => /\.ya?ml$/.test(e.name)).map((e) => e.name);
  } catch {
    return [];
  }
}

function checkRecipes(p: Parsed, c: Checker): { label: string; file: string }[] {
  return Object.entries(p.recipes).map(([name, path]) => {
    const file = resolveRecipePath(c.file, path);
    let ok = false;
    try {
      ok = Deno.statSync(file).isFile;
    } catch { /* reported below */ }
    if (!ok) {
      const near = yamlSiblings(dirname(file)).map((n) => join(dirname(path), n));
      c.issues.push({
        location: c.locate(["recipes", name]),
        keyPath: formatKeyPath(["recipes", name]),
        message: `recipe file not found: ${JSON.stringify(path)} (resolved to ${file})` +
          suggestion(path, near),
        expected: `a recipe path relative to the sweep file's folder ${dirname(c.file)}/`,
      });
    }
    return { label: name, file };
  });
}

function checkSet(text: string, path: PathSegment[], c: Checker): void {
  const parsed = parseOverride(text, 0);
  if (!("message" in parsed)) return;
  c.issues.push({
    location: c.locate(path),
    keyPath: formatKeyPath(path),
    message: `${JSON.stringify(text)}: ${parsed.message}`,
    ...(parsed.expected !== undefined ? { expected: parsed.expected } : {}),
  });
}

function checkDuplicates(values: string[], path: PathSegment[], what: string, c: Checker): void {
  values.forEach((v, i) => {
    const first = values.indexOf(v);
    if (first === i) return;
    c.issues.push({
      location: c.locate([...path, i]),
      keyPath: formatKeyPath([...path, i]),
      message: `duplicate ${what} ${v}`,
      expected: `each ${what} once (already at ${formatKeyPath([...path, first])})`,
    });
  });
}

function checkEntries(p: Parsed, c: Checker): void {
  p.set.forEach((text, i) => checkSet(text, ["set", i], c));
  for (const [key, values] of Object.entries(p.grid)) {
    if (!parseKeyPath(key)) {
      c.issues.push({
        location: c.locate(["grid", key], true),
        keyPath: formatKeyPath(["grid", key]),
        message: `malformed key path ${JSON.stringify(key)}`,
        expected: "a recipe key path such as vars.lambda, train.batch or losses[1].weight",
      });
      continue;
    }
    values.forEach((v, i) => checkSet(`${key}=${formatValue(v)}`, ["grid", key, i], c));
    checkDuplicates(values.map(formatValue), ["grid", key], "value", c);
  }
  const labels = Object.keys(p.recipes);
  for (const [name, toggle] of Object.entries(p.toggles)) {
    toggle.set.forEach((text, i) => checkSet(text, ["toggles", name, "set", i], c));
    (toggle.recipes ?? []).forEach((r, i) => {
      if (labels.includes(r)) return;
      const path = ["toggles", name, "recipes", i];
      c.issues.push({
        location: c.locate(path),
        keyPath: formatKeyPath(path),
        message: `unknown recipe label ${JSON.stringify(r)}${suggestion(r, labels)}`,
        expected: "a label defined under recipes:, one of",
        choices: labels,
      });
    });
  }
  checkDuplicates(p.seeds.map(String), ["seeds"], "seed", c);
  checkDuplicates(p.metrics.map((m) => m.key), ["metrics"], "metric key", c);
}

function checkIds(spec: SweepSpec, c: Checker): void {
  const seen = new Map<string, string>();
  for (const m of expandSweep(spec)) {
    const where = m.origins.filter((o) => o.startsWith("grid")).join(", ") || `recipes.${m.recipe}`;
    const prior = seen.get(m.id);
    if (prior !== undefined) {
      c.issues.push({
        location: spec.locate(where.split(", ")[0]!),
        keyPath: where,
        message: `member id ${JSON.stringify(m.id)} would be used twice (also by ${prior})`,
        expected: "grid values and labels that stay distinct once characters outside " +
          "[A-Za-z0-9._=+,-] become _",
      });
    } else seen.set(m.id, where);
  }
}

/**
 * Parses and checks sweep YAML `text` read from `file` (used for locations
 * and to resolve recipe paths). Throws {@link RecipeError} listing every problem.
 */
export function parseSweep(text: string, file: string): SweepSpec {
  const { tree, issues } = parseYaml(text, file);
  if (issues.length > 0) throw new RecipeError(issues, { fileOrder: [file] });
  const index = indexLocations(tree);
  const locate = (path: PathSegment[], key?: boolean): SourceLocation =>
    (key ? lookupLocation(index.keys, path) : undefined) ??
      lookupLocation(index.values, path) ?? { file, line: 1, column: 1 };
  const raw = toPlain(tree);
  const c: Checker = { file, locate, issues: [] };
  const result = schema.safeParse(raw);
  if (!result.success) {
    c.issues.push(...issuesFromZod(result.error.issues, {
      prefix: [],
      value: raw,
      locate,
      keysAt: (path) => objectKeysAt(schema, path),
      keyOwner: "a sweep file",
    }));
    throw new RecipeError(c.issues, { fileOrder: [file] });
  }
  const p = result.data;
  const recipes = checkRecipes(p, c);
  checkEntries(p, c);
  const spec: SweepSpec = {
    name: p.name ?? basename(file, extname(file)),
    file,
    recipes,
    set: p.set,
    grid: Object.entries(p.grid).map(([key, values]) => ({ key, values })),
    toggles: Object.entries(p.toggles).map(([name, t]) => ({
      name,
      description: t.description ?? t.set.join(", "),
      ...(t.recipes ? { recipes: t.recipes } : {}),
      set: t.set,
    })),
    seeds: p.seeds,
    metrics: p.metrics,
    locate: (keyPath) => locate(parseKeyPath(keyPath) ?? []),
  };
  if (c.issues.length === 0) checkIds(spec, c);
  if (c.issues.length > 0) throw new RecipeError(c.issues, { fileOrder: [file] });
  return spec;
}

/** Reads and checks the sweep file at `file` (see {@link parseSweep}). */
export async function loadSweep(file: string): Promise<SweepSpec> {
  let text: string;
  try {
    text = await Deno.readTextFile(file);
  } catch (e) {
    throw readError(file, e);
  }
  return parseSweep(text, file);
}
