/**
 * `${name}` interpolation from the recipe's `vars:`. A string that is exactly
 * one reference takes the var's typed value (number, list, map, ...); a
 * reference with text around it is spliced into the string (`"1 - ${lambda}"`
 * → `"1 - 0.05"`, which numeric fields evaluate as arithmetic). Vars may
 * reference other vars; cycles and unknown names are errors.
 *
 * @module
 */
import { type RecipeIssue, suggestion } from "./errors.ts";
import { formatKeyPath, type MapNode, type PathSegment, relocate, type TreeNode } from "./tree.ts";
import { findReferences, restoreReferences } from "./yaml_source.ts";

interface State {
  vars: Map<string, TreeNode>;
  resolved: Map<string, TreeNode | undefined>;
  stack: string[];
  issues: RecipeIssue[];
}

function varNames(state: State): string[] {
  return [...state.vars.keys()];
}

/** The interpolated value of var `name`, or `undefined` after recording an issue. */
function resolveVar(state: State, name: string, at: TreeNode, path: string): TreeNode | undefined {
  if (state.resolved.has(name)) return state.resolved.get(name);
  const node = state.vars.get(name);
  if (!node) {
    state.issues.push({
      location: at.loc,
      keyPath: path,
      message: `unknown var ${JSON.stringify(name)}${suggestion(name, varNames(state))}`,
      expected: "a var defined under vars:, one of",
      choices: varNames(state),
    });
    return undefined;
  }
  if (state.stack.includes(name)) {
    const cycle = [...state.stack.slice(state.stack.indexOf(name)), name];
    state.issues.push({
      location: at.loc,
      keyPath: path,
      message: `vars cycle: ${cycle.join(" → ")}`,
      expected: "vars that do not refer back to themselves",
    });
    return undefined;
  }
  state.stack.push(name);
  const value = walk(state, node, ["vars", name]);
  state.stack.pop();
  const result = value.ok ? value.node : undefined;
  state.resolved.set(name, result);
  return result;
}

function splice(state: State, node: TreeNode & { type: "scalar" }, path: string): TreeNode | null {
  const text = node.value as string;
  const refs = findReferences(text);
  if (refs.length === 0) return node;
  const whole = refs.length === 1 && refs[0].index === 0 && refs[0].length === text.length;
  if (whole) {
    const value = resolveVar(state, refs[0].name.trim(), node, path);
    return value ? relocate(value, node.loc) : null;
  }
  let out = "";
  let pos = 0;
  let ok = true;
  for (const ref of refs) {
    out += text.slice(pos, ref.index);
    pos = ref.index + ref.length;
    const value = resolveVar(state, ref.name.trim(), node, path);
    if (!value) {
      ok = false;
    } else if (value.type !== "scalar") {
      ok = false;
      state.issues.push({
        location: node.loc,
        keyPath: path,
        message: `var ${JSON.stringify(ref.name.trim())} is a ${
          value.type === "seq" ? "list" : "map"
        } and cannot be embedded in the text ${JSON.stringify(restoreReferences(text))}`,
        expected: `the reference alone ("\${${ref.name.trim()}}") or a scalar var`,
      });
    } else {
      out += String(value.value);
    }
  }
  out += text.slice(pos);
  return ok ? { ...node, value: out } : null;
}

function checkUnterminated(state: State, node: TreeNode, path: string): void {
  if (node.type !== "scalar" || typeof node.value !== "string") return;
  if (!node.value.includes("${")) return;
  state.issues.push({
    location: node.loc,
    keyPath: path,
    message: `unterminated or nested reference in ${JSON.stringify(node.value)}`,
    expected: "${name} with a var name between the braces",
  });
}

function walk(state: State, node: TreeNode, path: PathSegment[]): { ok: boolean; node: TreeNode } {
  if (node.type === "scalar") {
    if (typeof node.value !== "string") return { ok: true, node };
    const key = formatKeyPath(path);
    const out = splice(state, node, key);
    if (out) checkUnterminated(state, out, key);
    return out ? { ok: true, node: out } : { ok: false, node };
  }
  if (node.type === "seq") {
    const results = node.items.map((item, i) => walk(state, item, [...path, i]));
    const items = results.map((r) => r.node);
    return { ok: results.every((r) => r.ok), node: { ...node, items } };
  }
  let ok = true;
  const entries = new Map(node.entries);
  for (const [k, e] of node.entries) {
    const r = walk(state, e.value, [...path, k]);
    ok &&= r.ok;
    entries.set(k, { key: e.key, value: r.node });
  }
  return { ok, node: { ...node, entries } };
}

/**
 * Replaces every `${name}` in `tree` (including inside `vars:` itself) by
 * the value of `vars.name`. Issues: unknown var (listing the defined ones),
 * vars cycle, a list/map var spliced into text, an unterminated `${`.
 */
export function interpolate(tree: TreeNode): { tree: TreeNode; issues: RecipeIssue[] } {
  const varsNode = tree.type === "map" ? tree.entries.get("vars")?.value : undefined;
  const vars = new Map<string, TreeNode>();
  if (varsNode?.type === "map") {
    for (const [k, e] of (varsNode as MapNode).entries) vars.set(k, e.value);
  }
  const state: State = { vars, resolved: new Map(), stack: [], issues: [] };
  const result = walk(state, tree, []);
  return { tree: result.node, issues: state.issues };
}
