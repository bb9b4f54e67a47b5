/**
 * Validation of node, loss, data and eval entries against the component
 * registries: the kind must be registered, the remaining keys must pass the
 * entry's (strict) schema, and a loss's `inputs` must match its roles.
 *
 * @module
 */
import type { SourceLocation } from "../types.ts";
import type { EvaluatorFactory, LossFactory, ModuleFactory, SourceFactory } from "../components.ts";
import type { Registry } from "../registry.ts";
import { type RecipeIssue, suggestion } from "./errors.ts";
import { STRUCTURAL_KEYS } from "./schema.ts";
import { formatKeyPath, type PathSegment } from "./tree.ts";
import { issuesFromZod, objectKeysAt, showValue } from "./zod_issues.ts";

/** The four component registries a recipe is validated against. */
export interface Registries {
  /** Graph modules (`nodes:` kinds). */
  modules: Registry<ModuleFactory>;
  /** Loss terms (`losses:` kinds). */
  losses: Registry<LossFactory>;
  /** Data sources (`data:` kind). */
  sources: Registry<SourceFactory>;
  /** Evaluators (`eval:` kinds). */
  evaluators: Registry<EvaluatorFactory>;
}

/** Shared state of one validation pass. */
export interface CheckContext {
  /** Location of a full key path (of its key when `key`). */
  locate(path: PathSegment[], key?: boolean): SourceLocation;
  /** Issues found so far. */
  issues: RecipeIssue[];
}

/** A plain object (a YAML mapping), or `undefined`. */
export function asRecord(value: unknown): Record<string, unknown> | undefined {
  return value !== null && typeof value === "object" && !Array.isArray(value)
    ? value as Record<string, unknown>
    : undefined;
}

/**
 * Validates one entry's params with `registry.get(kind).schema`; returns the
 * parsed params (defaults applied), or `undefined` after recording issues
 * (or when the entry's structure is already wrong: the schema reports that).
 */
export function checkEntry<F>(
  entry: unknown,
  options: { path: PathSegment[]; section: string; registry: Registry<F>; ctx: CheckContext },
): { kind: string; params: Record<string, unknown>; create: F } | undefined {
  const { path, section, registry, ctx } = options;
  const obj = asRecord(entry);
  if (!obj || typeof obj.kind !== "string") return undefined;
  const kind = obj.kind;
  if (!registry.has(kind)) {
    ctx.issues.push({
      location: ctx.locate([...path, "kind"]),
      keyPath: formatKeyPath([...path, "kind"]),
      message: `unknown ${registry.what} kind ${JSON.stringify(kind)}${
        suggestion(kind, registry.kinds())
      }`,
      choices: registry.kinds(),
    });
    return undefined;
  }
  const structural = STRUCTURAL_KEYS[section];
  const params = Object.fromEntries(
    Object.entries(obj).filter(([k]) => !structural.includes(k)),
  );
  const { schema, create } = registry.get(kind);
  const result = schema.safeParse(params);
  if (result.success) return { kind, params: result.data as Record<string, unknown>, create };
  ctx.issues.push(...issuesFromZod(result.error.issues, {
    prefix: path,
    value: params,
    locate: ctx.locate,
    keyOwner: `${registry.what} "${kind}"`,
    keysAt: (p) =>
      p.length === 0
        ? [...structural, ...(objectKeysAt(schema, []) ?? [])]
        : objectKeysAt(schema, p),
  }));
  return undefined;
}

/** A loss role as declared by a term: `x[]` takes a list, `logit_scale?` is optional. */
export interface Role {
  /** The key used under `inputs:`. */
  name: string;
  /** Whether the role takes a list of references. */
  list: boolean;
  /** Whether the role may be left out. */
  optional: boolean;
  /** The declaration as the term wrote it. */
  declared: string;
}

/** Parses a term's role declarations. */
export function parseRoles(roles: readonly string[]): Role[] {
  return roles.map((declared) => ({
    name: declared.replace(/(\[\]|\?)+$/, ""),
    list: /\[\](\?)?$/.test(declared),
    optional: declared.endsWith("?"),
    declared,
  }));
}

/**
 * Checks a loss entry's `inputs:` against the term's roles: every key is a
 * role, every required role is given, list roles get a reference or a list,
 * single roles get exactly one reference.
 */
export function checkRoles(
  inputs: unknown,
  options: { path: PathSegment[]; kind: string; roles: Role[]; ctx: CheckContext },
): void {
  const { path, kind, roles, ctx } = options;
  const given = asRecord(inputs);
  if (!given) return;
  const declared = roles.map((r) => r.declared);
  const base = [...path, "inputs"];
  for (const [key, value] of Object.entries(given)) {
    const role = roles.find((r) => r.name === key);
    const at = [...base, key];
    if (!role) {
      const names = roles.map((r) => r.name);
      ctx.issues.push({
        location: ctx.locate(at, true),
        keyPath: formatKeyPath(at),
        message: `unknown input role ${JSON.stringify(key)} for loss "${kind}"${
          suggestion(key, names)
        }`,
        expected: "one of the term's roles (`[]`: a list, `?`: optional)",
        choices: declared,
      });
    } else if (!role.list && Array.isArray(value)) {
      ctx.issues.push({
        location: ctx.locate(at),
        keyPath: formatKeyPath(at),
        message: `invalid value ${
          showValue(value)
        }: role "${key}" of loss "${kind}" takes one reference`,
        expected: "a single node name or batch.<field>",
      });
    }
  }
  for (const role of roles) {
    if (role.optional || Object.hasOwn(given, role.name)) continue;
    ctx.issues.push({
      location: ctx.locate(base),
      keyPath: formatKeyPath(base),
      message: `missing input role ${JSON.stringify(role.name)} for loss "${kind}"`,
      expected: "all required roles of the term",
      choices: declared,
    });
  }
}

/**
 * A node's number of `input:` references against its module's `arity`
 * (`label`: how the message names the module, default its kind).
 */
export function checkArity(
  input: unknown,
  at: {
    path: PathSegment[];
    kind: string;
    registries: Registries;
    ctx: CheckContext;
    label?: string;
  },
): void {
  const entry = at.registries.modules.get(at.kind);
  if (!entry.arity) return;
  const [min, max] = entry.arity;
  const count = Array.isArray(input) ? input.length : input === undefined ? 0 : 1;
  if (count >= min && count <= max) return;
  const path = count === 0 ? at.path : [...at.path, "input"];
  const wanted = min === max ? `${min}` : max === Infinity ? `at least ${min}` : `${min} to ${max}`;
  at.ctx.issues.push({
    location: at.ctx.locate(path),
    keyPath: formatKeyPath(path),
    message: `${at.label ?? at.kind} takes ${wanted} input reference${max === 1 ? "" : "s"}, ` +
      `got ${count}`,
    expected: entry.input ?? `${wanted} references`,
  });
}
