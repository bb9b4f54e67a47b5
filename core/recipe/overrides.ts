/**
 * `--set key.path=value` overrides, applied after `extends` and before
 * `${var}` interpolation (so `--set vars.lambda=0.1` changes every use).
 * Values are YAML (`--set "nodes.pred.layers=[64, 64]"`); their location is
 * `{ file: "--set <text>", line: 0, column: <1-based override index> }`.
 *
 * @module
 */
import type { SourceLocation } from "../types.ts";
import { type RecipeIssue, suggestion } from "./errors.ts";
import {
  emptyMap,
  formatKeyPath,
  parseKeyPath,
  type PathSegment,
  relocate,
  type TreeNode,
} from "./tree.ts";
import { parseYaml } from "./yaml_source.ts";

const FORM = "key.path=value, e.g. train.batch=64, vars.lambda=0.1, " +
  '"nodes.pred.layers=[64, 64]" or losses[1].weight=0.2';

/** The location recorded for the `index`-th (0-based) override `text`. */
export function overrideLocation(text: string, index: number): SourceLocation {
  return { file: `--set ${text}`, line: 0, column: index + 1 };
}

function describe(node: TreeNode): string {
  if (node.type === "map") return "a map";
  if (node.type === "seq") return `a list of ${node.items.length}`;
  return `the value ${JSON.stringify(node.value)}`;
}

/** Replaces the value at `path` under `node`; returns the new node or an issue. */
function setAt(
  node: TreeNode,
  path: PathSegment[],
  done: PathSegment[],
  leaf: TreeNode,
): TreeNode | RecipeIssue {
  if (path.length === 0) return leaf;
  const [seg, ...rest] = path;
  const here = [...done, seg];
  const fault = (message: string, expected: string): RecipeIssue => ({
    location: leaf.loc,
    keyPath: formatKeyPath(here),
    message,
    expected,
  });
  if (typeof seg === "number") {
    if (node.type !== "seq") {
      return fault(`cannot index ${formatKeyPath(done)}: it is ${describe(node)}`, "a list");
    }
    if (seg >= node.items.length) {
      const last = node.items.length - 1;
      const range = last < 0 ? "none: the list is empty" : `0 to ${last}`;
      return fault(`index ${seg} is out of range`, `an index of ${formatKeyPath(done)}: ${range}`);
    }
    const child = setAt(node.items[seg], rest, here, leaf);
    if ("message" in child) return child;
    return { ...node, items: node.items.map((item, i) => (i === seg ? child : item)) };
  }
  if (node.type !== "map") {
    const where = done.length > 0 ? formatKeyPath(done) : "the recipe";
    return fault(`cannot set key ${JSON.stringify(seg)}: ${where} is ${describe(node)}`, "a map");
  }
  const prior = node.entries.get(seg);
  const child = setAt(prior?.value ?? emptyMap(leaf.loc), rest, here, leaf);
  if ("message" in child) return child;
  const entries = new Map(node.entries);
  // A list or map set whole is located at the override (the index places such values at their key).
  entries.set(seg, { key: rest.length === 0 || !prior ? leaf.loc : prior.key, value: child });
  return { ...node, entries };
}

/**
 * Parses one override `key.path=value` (the `index`-th, 0-based) into its key
 * path and YAML value, or the issue that makes it malformed. Nothing is
 * applied: a sweep file checks its `set` strings with this before any recipe
 * is loaded.
 */
export function parseOverride(
  text: string,
  index: number,
): { path: PathSegment[]; value: TreeNode } | RecipeIssue {
  const location = overrideLocation(text, index);
  const eq = text.indexOf("=");
  const path = eq > 0 ? parseKeyPath(text.slice(0, eq).trim()) : undefined;
  if (!path) {
    return {
      location,
      keyPath: "",
      message: `malformed override ${JSON.stringify(text)}`,
      expected: FORM,
    };
  }
  const parsed = parseYaml(text.slice(eq + 1), location.file);
  if (parsed.issues.length > 0) {
    return {
      location,
      keyPath: formatKeyPath(path),
      message: `the value ${JSON.stringify(text.slice(eq + 1))} is not valid YAML ` +
        `(${parsed.issues[0].message})`,
      expected: FORM,
    };
  }
  const value = parsed.tree.type === "map" && parsed.tree.entries.size === 0 &&
      text.slice(eq + 1).trim() === ""
    ? { type: "scalar" as const, value: null, loc: location }
    : relocate(parsed.tree, location);
  return { path, value };
}

/** The keys of the map at `section` of `tree` (`[]` when absent or not a map). */
function sectionKeys(tree: TreeNode, section: string): string[] {
  if (tree.type !== "map") return [];
  const node = tree.entries.get(section)?.value;
  return node?.type === "map" ? [...node.entries.keys()] : [];
}

/**
 * An override that names a var the recipe does not declare (it would change
 * nothing: a sweep over it runs identical members), or sets a key inside a
 * node that does not exist (`nodes.<name>=…` alone may add a node).
 */
function unknownName(
  tree: TreeNode,
  at: { path: PathSegment[]; loc: SourceLocation; overrides: readonly string[] },
): RecipeIssue | null {
  const { path, loc } = at;
  const [section, name] = path;
  if (typeof name !== "string") return null;
  const declared = section === "vars" ? sectionKeys(tree, "vars") : sectionKeys(tree, "nodes");
  // A var another override reads (`--set vars.n=3 --set "train.steps=${n}"`) is not idle.
  const used = section === "vars" && at.overrides.some((o) => o.includes(`\${${name}}`));
  if (section === "vars" && !declared.includes(name) && !used) {
    return {
      location: loc,
      keyPath: formatKeyPath(path.slice(0, 2)),
      message: `unknown var ${JSON.stringify(name)}${suggestion(name, declared)}: ` +
        "setting it would change nothing",
      expected: declared.length
        ? "a var the recipe declares under vars:, one of"
        : "a var declared under vars: (this recipe declares none; add one and use it as ${" +
          name + "})",
      choices: declared.length ? declared : undefined,
    };
  }
  if (section === "nodes" && path.length > 2 && !declared.includes(name)) {
    return {
      location: loc,
      keyPath: formatKeyPath(path.slice(0, 2)),
      message: `unknown node ${JSON.stringify(name)}${suggestion(name, declared)} (to add a ` +
        `node, set it whole: "nodes.${name}={ kind: …, input: … }")`,
      expected: "a node of the recipe, one of",
      choices: declared,
    };
  }
  return null;
}

/**
 * Applies `overrides` (`"train.batch=64"`, `"losses[1].weight=0.2"`, ...) in
 * order. Missing map keys are created (the schema then rejects unknown
 * ones, pointing at the override); list indices must exist; a var the
 * recipe does not declare (and no override reads), or a key inside a node it
 * does not have, is an error naming the choices — `undeclaredVars: "skip"`
 * drops such var overrides instead (a sweep sets a var some of its recipes lack).
 */
export function applyOverrides(
  tree: TreeNode,
  overrides: readonly string[],
  options: { undeclaredVars?: "error" | "skip" } = {},
): { tree: TreeNode; issues: RecipeIssue[] } {
  const issues: RecipeIssue[] = [];
  let current = tree;
  overrides.forEach((text, index) => {
    const parsed = parseOverride(text, index);
    if ("message" in parsed) {
      issues.push(parsed);
      return;
    }
    const unknown = unknownName(current, { path: parsed.path, loc: parsed.value.loc, overrides });
    if (unknown) {
      if (!(options.undeclaredVars === "skip" && parsed.path[0] === "vars")) issues.push(unknown);
      return;
    }
    const next = setAt(current, parsed.path, [], parsed.value);
    if ("message" in next) issues.push(next);
    else current = next;
  });
  return { tree: current, issues };
}
