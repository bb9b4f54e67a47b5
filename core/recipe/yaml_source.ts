/**
 * YAML text → located tree. `${name}` is not a valid plain scalar inside a
 * flow collection (`[512, ${dim}]`: `{`/`}` are flow indicators), so each
 * `${...}` is first rewritten to a placeholder of the same length that is a
 * valid plain scalar (private-use characters), keeping every line and column.
 *
 * @module
 */
import { type Document, isAlias, isMap, isScalar, isSeq, LineCounter, type Node } from "yaml";
import { parseDocument } from "yaml";
import type { SourceLocation } from "../types.ts";
import type { RecipeIssue } from "./errors.ts";
import { emptyMap, formatKeyPath, type MapEntry, type PathSegment, type TreeNode } from "./tree.ts";

const OPEN = "\uE000";
const CLOSE = "\uE001";
const REFERENCE = /\$\{([^{}\n]*)\}/g;
const PLACEHOLDER = new RegExp(`\\$${OPEN}([^${CLOSE}\\n]*)${CLOSE}`, "g");

/** Rewrites every `${name}` to a same-length placeholder that YAML reads as plain text. */
export function protectReferences(text: string): string {
  return text.replace(REFERENCE, (_, name: string) => `$${OPEN}${name}${CLOSE}`);
}

/** Turns placeholders back into `${name}` (for messages and unreplaced text). */
export function restoreReferences(text: string): string {
  return text.replace(PLACEHOLDER, (_, name: string) => "${" + name + "}");
}

/** One `${name}` reference found in a parsed string. */
export interface Reference {
  /** Text between `${` and `}` (untrimmed). */
  name: string;
  /** Offset of the placeholder within the string. */
  index: number;
  /** Length of the placeholder. */
  length: number;
}

/** The `${...}` references (as placeholders) inside a parsed string. */
export function findReferences(text: string): Reference[] {
  return [...text.matchAll(PLACEHOLDER)].map((m) => ({
    name: m[1],
    index: m.index,
    length: m[0].length,
  }));
}

interface Converter {
  doc: Document;
  file: string;
  lines: LineCounter;
  issues: RecipeIssue[];
}

function locate(c: Converter, offset: number | undefined): SourceLocation {
  const pos = c.lines.linePos(offset ?? 0);
  return { file: c.file, line: pos.line, column: pos.col };
}

function excerpt(source: string, loc: SourceLocation): string[] {
  const lines = source.split(/\r?\n/);
  const first = Math.max(1, loc.line - 1);
  const width = String(loc.line).length;
  const out: string[] = [];
  for (let n = first; n <= loc.line; n++) {
    out.push(`  ${String(n).padStart(width)} | ${restoreReferences(lines[n - 1] ?? "")}`);
  }
  out.push(`  ${" ".repeat(width)} | ${" ".repeat(Math.max(0, loc.column - 1))}^`);
  return out;
}

function convertMap(c: Converter, node: Node, path: PathSegment[]): TreeNode {
  const out = emptyMap(locate(c, node.range?.[0]));
  if (!isMap(node)) return out;
  for (const pair of node.items) {
    const keyNode = pair.key as Node | null;
    const keyLoc = locate(c, keyNode?.range?.[0] ?? node.range?.[0]);
    if (!isScalar(keyNode)) {
      c.issues.push({
        location: keyLoc,
        keyPath: formatKeyPath(path),
        message: "complex mapping key",
        expected: "a plain key such as `name:`",
      });
      continue;
    }
    const key = restoreReferences(String(keyNode.value));
    const prior = out.entries.get(key);
    if (prior) {
      c.issues.push({
        location: keyLoc,
        keyPath: formatKeyPath([...path, key]),
        message: `duplicate key ${JSON.stringify(key)} (first defined at line ${prior.key.line})`,
        expected: "each key at most once per mapping",
      });
      continue;
    }
    const valueNode = pair.value as Node | null;
    const value: TreeNode = valueNode
      ? convert(c, valueNode, [...path, key])
      : { type: "scalar", value: null, loc: keyLoc };
    out.entries.set(key, { key: keyLoc, value } satisfies MapEntry);
  }
  return out;
}

function convert(c: Converter, node: Node, path: PathSegment[]): TreeNode {
  const loc = locate(c, node.range?.[0]);
  if (isAlias(node)) {
    const target = node.resolve(c.doc);
    return target ? convert(c, target, path) : { type: "scalar", value: null, loc };
  }
  if (isMap(node)) return convertMap(c, node, path);
  if (isSeq(node)) {
    const items = node.items.map((item, i) =>
      item ? convert(c, item as Node, [...path, i]) : { type: "scalar" as const, value: null, loc }
    );
    return { type: "seq", items, loc };
  }
  const value = isScalar(node) ? node.value : null;
  const plain = typeof value === "string" || typeof value === "number" ||
      typeof value === "boolean" || value === null
    ? value
    : String(value);
  return { type: "scalar", value: plain, loc };
}

/**
 * Parses recipe YAML into a located tree. `${name}` references stay in
 * strings as placeholders (see {@link findReferences}); an empty document is
 * an empty map. Syntax errors (the first one, with a source excerpt) and
 * duplicate keys come back as issues.
 */
export function parseYaml(
  text: string,
  file: string,
): { tree: TreeNode; issues: RecipeIssue[] } {
  const lines = new LineCounter();
  const doc = parseDocument(protectReferences(text), {
    lineCounter: lines,
    prettyErrors: false,
    uniqueKeys: false,
  });
  const c: Converter = { doc, file, lines, issues: [] };
  const syntax = doc.errors[0];
  if (syntax) {
    const location = locate(c, syntax.pos[0]);
    const issue: RecipeIssue = {
      location,
      keyPath: "",
      message: `YAML syntax error: ${restoreReferences(syntax.message)}`,
      detail: excerpt(text, location),
    };
    return { tree: emptyMap(location), issues: [issue] };
  }
  const contents = doc.contents as Node | null;
  const tree = contents ? convert(c, contents, []) : emptyMap({ file, line: 1, column: 1 });
  return { tree, issues: c.issues };
}
