/**
 * `extends:` — an ordered list of recipe files (paths relative to the
 * extending file) merged in order, then the file itself on top. Cycles and
 * missing files are errors that point at the `extends` entry.
 *
 * @module
 */
import { dirname, isAbsolute, join, resolve } from "node:path";
import type { SourceLocation } from "../types.ts";
import { RecipeError, type RecipeIssue } from "./errors.ts";
import { emptyMap, type MapNode, mergeTrees, type TreeNode } from "./tree.ts";
import { parseYaml, restoreReferences } from "./yaml_source.ts";

/** Reads a file's text synchronously (throws when it cannot). */
export type ReadFile = (path: string) => string;

/** State shared by one load: the reader and the files read so far. */
export interface ExtendsContext {
  /** How files are read. */
  readFile: ReadFile;
  /** Files read, in first-reading order, each once (filled in by {@link loadWithExtends}). */
  sources: string[];
}

interface Pending {
  written: string;
  path: string;
  loc: SourceLocation;
  keyPath: string;
}

function fail(issues: RecipeIssue[], ctx: ExtendsContext): never {
  throw new RecipeError(issues, { fileOrder: ctx.sources });
}

function extendsList(root: MapNode, file: string): { list: Pending[]; issues: RecipeIssue[] } {
  const entry = root.entries.get("extends");
  if (!entry) return { list: [], issues: [] };
  const items = entry.value.type === "seq" ? entry.value.items : [entry.value];
  const list: Pending[] = [];
  const issues: RecipeIssue[] = [];
  items.forEach((item, index) => {
    const keyPath = entry.value.type === "seq" ? `extends[${index}]` : "extends";
    if (item.type === "scalar" && typeof item.value === "string" && item.value !== "") {
      const rel = restoreReferences(item.value);
      const path = isAbsolute(rel) ? rel : join(dirname(file), rel);
      list.push({ written: rel, path, loc: item.loc, keyPath });
      return;
    }
    const shown = item.type === "scalar" ? JSON.stringify(item.value) : `a ${item.type}`;
    issues.push({
      location: item.loc,
      keyPath,
      message: `invalid extends entry ${shown}`,
      expected: "a recipe path relative to this file, or a list of them",
    });
  });
  return { list, issues };
}

function readOrIssue(
  pending: Pending,
  ctx: ExtendsContext,
): { text?: string; issue?: RecipeIssue } {
  try {
    return { text: ctx.readFile(pending.path) };
  } catch (e) {
    const why = e instanceof Deno.errors.NotFound ? "file not found" : String(e);
    return {
      issue: {
        location: pending.loc,
        keyPath: pending.keyPath,
        message: `cannot read extended recipe ${JSON.stringify(pending.written)} ` +
          `(looked for ${pending.path}): ${why}`,
        expected: `a path relative to the extending file's folder ${
          JSON.stringify(dirname(pending.loc.file) + "/")
        }`,
      },
    };
  }
}

/**
 * Parses `text` (the contents of `file`), loads its `extends` chain
 * depth-first and returns the merged tree without the `extends` key.
 * `stack` holds the files currently being extended (cycle detection).
 * Throws {@link RecipeError}.
 */
export function loadWithExtends(
  text: string,
  file: string,
  options: ExtendsContext & { stack?: string[] },
): TreeNode {
  const ctx: ExtendsContext = { readFile: options.readFile, sources: options.sources };
  const stack = [...(options.stack ?? []), file];
  if (!ctx.sources.includes(file)) ctx.sources.push(file);
  const parsed = parseYaml(text, file);
  if (parsed.issues.length > 0) fail(parsed.issues, ctx);
  const root = parsed.tree;
  if (root.type !== "map") {
    fail([{
      location: root.loc,
      keyPath: "",
      message: `the recipe is a ${root.type === "seq" ? "list" : "scalar"}`,
      expected: "a mapping of top-level keys (nodes:, losses:, train:, ...)",
    }], ctx);
  }
  const { list, issues } = extendsList(root, file);
  let base: TreeNode = emptyMap(root.loc);
  for (const pending of list) {
    const at = stack.findIndex((f) => resolve(f) === resolve(pending.path));
    if (at >= 0) {
      issues.push(cycleIssue(pending, [...stack.slice(at), pending.path]));
      continue;
    }
    const read = readOrIssue(pending, ctx);
    if (read.issue) {
      issues.push(read.issue);
      continue;
    }
    base = mergeTrees(base, loadWithExtends(read.text!, pending.path, { ...ctx, stack }));
  }
  if (issues.length > 0) fail(issues, ctx);
  const own = new Map(root.entries);
  own.delete("extends");
  return mergeTrees(base, { type: "map", entries: own, loc: root.loc });
}

function cycleIssue(pending: Pending, cycle: string[]): RecipeIssue {
  return {
    location: pending.loc,
    keyPath: pending.keyPath,
    message: `extends cycle: ${cycle.join(" → ")}`,
    expected: "extends chains that never lead back to a file already being extended",
  };
}
