/**
 * zod 4 issues → {@link RecipeIssue}s: the key path, the bad value as JSON,
 * what was expected and the valid choices (object keys are read from the
 * schema itself, so "unknown key" lists what is allowed).
 *
 * @module
 */
import type { z } from "zod";
import type { SourceLocation } from "../types.ts";
import { type RecipeIssue, suggestion } from "./errors.ts";
import { formatKeyPath, type PathSegment } from "./tree.ts";

type Def = { type: string } & Record<string, unknown>;
const WRAPPERS = new Set(["optional", "nullable", "default", "prefault", "readonly", "catch"]);

function defOf(schema: unknown): Def | undefined {
  return (schema as { _zod?: { def?: Def } } | undefined)?._zod?.def;
}

function unwrap(schema: unknown): unknown {
  for (let i = 0; i < 32; i++) {
    const def = defOf(schema);
    if (!def) return schema;
    if (WRAPPERS.has(def.type) || def.type === "nonoptional") schema = def.innerType;
    else if (def.type === "pipe") {
      schema = defOf(def.in)?.type === "transform" ? def.out : def.in;
    } else if (def.type === "lazy") schema = (def.getter as () => unknown)();
    else return schema;
  }
  return schema;
}

function child(schema: unknown, seg: PathSegment): unknown {
  const def = defOf(unwrap(schema));
  if (!def) return undefined;
  switch (def.type) {
    case "object":
      return typeof seg === "string" ? (def.shape as Record<string, unknown>)[seg] : undefined;
    case "array":
      return typeof seg === "number" ? def.element : undefined;
    case "tuple":
      return typeof seg === "number" ? (def.items as unknown[])[seg] : undefined;
    case "record":
      return def.valueType;
    case "union":
      for (const option of def.options as unknown[]) {
        const found = child(option, seg);
        if (found) return found;
      }
      return undefined;
    default:
      return undefined;
  }
}

/** Keys of the object schema found at `path` under `schema` (`undefined` if none). */
export function objectKeysAt(schema: unknown, path: readonly PathSegment[]): string[] | undefined {
  let s: unknown = schema;
  for (const seg of path) {
    s = child(s, seg);
    if (!s) return undefined;
  }
  const def = defOf(unwrap(s));
  if (def?.type === "object") return Object.keys(def.shape as Record<string, unknown>);
  if (def?.type === "union") {
    for (const option of def.options as unknown[]) {
      const keys = objectKeysAt(option, []);
      if (keys) return keys;
    }
  }
  return undefined;
}

/** The value at `path` inside `root` (own properties and list items only). */
export function valueAt(root: unknown, path: readonly PropertyKey[]): unknown {
  let v = root;
  for (const seg of path) {
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, seg)) return undefined;
    v = (v as Record<PropertyKey, unknown>)[seg];
  }
  return v;
}

/** A value as JSON for messages (long values shortened). */
export function showValue(value: unknown): string {
  if (value === undefined) return "(missing)";
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

const TYPE_NAMES: Record<string, string> = {
  number: "a number",
  int: "an integer",
  string: "a string",
  boolean: "true or false",
  array: "a list",
  tuple: "a list",
  object: "a map",
  record: "a map",
  null: "null",
};

function typeName(expected: string): string {
  return TYPE_NAMES[expected] ?? expected;
}

function sizeText(issue: z.core.$ZodIssueTooSmall | z.core.$ZodIssueTooBig): string {
  const small = issue.code === "too_small";
  const bound = small ? issue.minimum : issue.maximum;
  const cmp = small ? (issue.inclusive ? ">=" : ">") : (issue.inclusive ? "<=" : "<");
  const word = small ? "at least" : "at most";
  if (issue.origin === "array" || issue.origin === "set") {
    return `a list with ${word} ${bound} item${Number(bound) === 1 ? "" : "s"}`;
  }
  if (issue.origin === "string") return `a string of ${word} ${bound} characters`;
  return `a number ${cmp} ${bound}`;
}

function isDefaultMessage(message: string): boolean {
  return /^(Invalid|Too (small|big)|Unrecognized)/.test(message);
}

/** A schema issue as zod reports it: code, path and message, plus code-specific fields. */
export interface SchemaIssue {
  /** zod issue code (`invalid_type`, `unrecognized_keys`, ...). */
  readonly code: string;
  /** Path of the offending value, relative to the validated value. */
  readonly path: PropertyKey[];
  /** zod's message. */
  readonly message: string;
}

/** How to map one validated value's issues. */
export interface IssueScope {
  /** Path of the validated value within the recipe. */
  prefix: PathSegment[];
  /** The validated value. */
  value: unknown;
  /** Valid keys of the object at `path` (relative to `prefix`). */
  keysAt(path: PathSegment[]): string[] | undefined;
  /** Location of the value at a full path (of its key, when `key` is set). */
  locate(path: PathSegment[], key?: boolean): SourceLocation;
  /** Whose keys these are, for "unknown key" messages (e.g. `module "mlp"`). */
  keyOwner?: string;
}

function unionIssues(issue: z.core.$ZodIssueInvalidUnion, scope: IssueScope): RecipeIssue[] {
  const branches = issue.errors ?? [];
  const rootTypeOnly = (b: z.core.$ZodIssue[]): boolean =>
    b.length === 1 && b[0].code === "invalid_type" && b[0].path.length === 0;
  const deeper = branches.find((b) => b.length > 0 && !rootTypeOnly(b));
  if (deeper) {
    const inner = deeper.map((i) => ({ ...i, path: [...issue.path, ...i.path] }));
    return issuesFromZod(inner as z.core.$ZodIssue[], scope);
  }
  const names = [
    ...new Set(branches.flatMap((b) => b.map((i) => (i as { expected?: string }).expected ?? ""))),
  ];
  const expected = names.length === 2 && names.includes("number") && names.includes("string")
    ? "a number"
    : names.filter((n) => n !== "").map(typeName).join(" or ") || issue.message;
  return [single(issue, scope, { expected })];
}

function single(
  issue: z.core.$ZodIssue,
  scope: IssueScope,
  over: { expected?: string; message?: string; choices?: string[]; key?: boolean } = {},
): RecipeIssue {
  const path = issue.path.filter((s): s is PathSegment => typeof s !== "symbol");
  const full = [...scope.prefix, ...path];
  const value = valueAt(scope.value, path);
  const missing = value === undefined && path.length > 0;
  const last = String(path[path.length - 1] ?? "");
  return {
    location: scope.locate(full, over.key),
    keyPath: formatKeyPath(full),
    message: over.message ??
      (missing
        ? `missing required key ${JSON.stringify(last)}`
        : `invalid value ${showValue(value)}`),
    ...(over.expected !== undefined ? { expected: over.expected } : {}),
    ...(over.choices !== undefined ? { choices: over.choices } : {}),
  };
}

function customIssue(issue: z.core.$ZodIssue, scope: IssueScope): RecipeIssue {
  const value = valueAt(scope.value, issue.path as PropertyKey[]);
  const m = issue.message;
  if (m.startsWith("cannot evaluate")) {
    return single(issue, scope, {
      message: `invalid value ${showValue(value)}: ${m}`,
      expected: 'a number, or arithmetic such as "2 * 64" or "1 - 0.05"',
    });
  }
  if (m.startsWith("expected ")) return single(issue, scope, { expected: m.slice(9) });
  return single(issue, scope, { message: `invalid value ${showValue(value)}: ${m}` });
}

function unknownKeys(issue: z.core.$ZodIssueUnrecognizedKeys, scope: IssueScope): RecipeIssue[] {
  const base = issue.path.filter((s): s is PathSegment => typeof s !== "symbol");
  const valid = [...(scope.keysAt(base) ?? [])].sort();
  const owner = scope.keyOwner ? ` for ${scope.keyOwner}` : "";
  return issue.keys.map((key) =>
    single({ ...issue, path: [...base, key] }, scope, {
      message: `unknown key ${JSON.stringify(key)}${owner}${suggestion(key, valid)}`,
      expected: "one of",
      choices: valid,
      key: true,
    })
  );
}

function enumIssue(issue: z.core.$ZodIssueInvalidValue, scope: IssueScope): RecipeIssue {
  const choices = issue.values.map((v) => (typeof v === "string" ? v : JSON.stringify(v)));
  const value = valueAt(scope.value, issue.path as PropertyKey[]);
  const hint = typeof value === "string" ? suggestion(value, choices) : "";
  return single(issue, scope, {
    ...(value === undefined ? {} : { message: `invalid value ${showValue(value)}${hint}` }),
    expected: "one of",
    choices,
  });
}

function keyIssue(issue: z.core.$ZodIssueInvalidKey, scope: IssueScope): RecipeIssue {
  const key = String(issue.path[issue.path.length - 1]);
  const inner = issue.issues[0]?.message ?? "";
  const expected = inner.startsWith("expected ") ? inner.slice(9) : "a valid key";
  return single(issue, scope, {
    message: `invalid key ${JSON.stringify(key)}`,
    expected,
    key: true,
  });
}

function formatMismatch(
  issue: z.core.$ZodIssueInvalidStringFormat,
  scope: IssueScope,
): RecipeIssue {
  const expected = !isDefaultMessage(issue.message) && issue.message.startsWith("expected ")
    ? issue.message.slice(9)
    : `a string in ${issue.format} format${issue.pattern ? ` (${issue.pattern})` : ""}`;
  return single(issue, scope, { expected });
}

/** Maps zod issues of `scope.value` to recipe issues (one per problem). */
export function issuesFromZod(issues: readonly SchemaIssue[], scope: IssueScope): RecipeIssue[] {
  return issues.flatMap((schemaIssue): RecipeIssue[] => {
    const issue = schemaIssue as z.core.$ZodIssue;
    switch (issue.code) {
      case "unrecognized_keys":
        return unknownKeys(issue, scope);
      case "invalid_union":
        return unionIssues(issue, scope);
      case "invalid_type":
        return [single(issue, scope, { expected: typeName(issue.expected) })];
      case "invalid_value":
        return [enumIssue(issue, scope)];
      case "too_small":
      case "too_big":
        return [single(issue, scope, { expected: sizeText(issue) })];
      case "invalid_key":
        return [keyIssue(issue, scope)];
      case "invalid_format":
        return [formatMismatch(issue, scope)];
      case "custom":
        return [customIssue(issue, scope)];
      default:
        return [single(issue, scope, {
          message: `invalid value ${showValue(valueAt(scope.value, issue.path as PropertyKey[]))}`,
          expected: issue.message,
        })];
    }
  });
}
