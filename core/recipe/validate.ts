/**
 * Validation of a merged, interpolated recipe: the structural schema, every
 * component entry against its registry, loss roles, references to nodes and
 * batch fields, evaluators' node references (`eval_refs.ts`), and unique entry names. Produces the {@link ResolvedRecipe}.
 *
 * @module
 */
import type { SourceLocation } from "../types.ts";
import {
  asRecord,
  checkArity,
  type CheckContext,
  checkEntry,
  checkRoles,
  parseRoles,
  type Registries,
  type Role,
} from "./components.ts";
import { type RecipeIssue, suggestion } from "./errors.ts";
import { parseStructure, type RecipeStructure, structureKeysAt } from "./schema.ts";
import { formatKeyPath, type PathSegment } from "./tree.ts";
import { BATCH_FIELDS, type ResolvedRecipe } from "./types.ts";
import { issuesFromZod } from "./zod_issues.ts";
import { checkEvalRefs } from "./eval_refs.ts";
import { checkTeacherRefs } from "./teacher_refs.ts";
import { checkGradientCache } from "./gradient_cache_check.ts";

type Params = Record<string, unknown>;

interface Checked {
  nodes: Map<string, Params>;
  losses: Map<number, { params: Params; roles: Role[] }>;
  data?: Params;
  eval: Map<number, Params>;
  /** Params of `eval[i].data` entries, by eval index. */
  evalData: Map<number, Params>;
}

function list(value: unknown): unknown[] {
  return Array.isArray(value) ? value : [];
}

function checkComponents(raw: Params, registries: Registries, ctx: CheckContext): Checked {
  const out: Checked = {
    nodes: new Map(),
    losses: new Map(),
    eval: new Map(),
    evalData: new Map(),
  };
  for (const [name, entry] of Object.entries(asRecord(raw.nodes) ?? {})) {
    const path = ["nodes", name];
    const r = checkEntry(entry, { path, section: "nodes", registry: registries.modules, ctx });
    if (r) out.nodes.set(name, r.params);
    if (r) checkArity(asRecord(entry)?.input, { path, kind: r.kind, registries, ctx });
  }
  list(raw.losses).forEach((entry, i) => {
    const path = ["losses", i];
    const r = checkEntry(entry, { path, section: "losses", registry: registries.losses, ctx });
    if (!r) return;
    let roles: Role[];
    try {
      roles = parseRoles(r.create(r.params).roles);
    } catch (e) {
      ctx.issues.push({
        location: ctx.locate(path),
        keyPath: formatKeyPath(path),
        message: `loss "${r.kind}" rejected its parameters: ${e instanceof Error ? e.message : e}`,
        expected: `parameters loss "${r.kind}" can be built from`,
      });
      return;
    }
    checkRoles(asRecord(entry)?.inputs, { path, kind: r.kind, roles, ctx });
    out.losses.set(i, { params: r.params, roles });
  });
  const data = checkEntry(raw.data, {
    path: ["data"],
    section: "data",
    registry: registries.sources,
    ctx,
  });
  out.data = data?.params;
  list(raw.eval).forEach((entry, i) => {
    const path = ["eval", i];
    const r = checkEntry(entry, { path, section: "eval", registry: registries.evaluators, ctx });
    if (r) out.eval.set(i, r.params);
    const data = asRecord(entry)?.data;
    if (data === undefined || data === null) return;
    const d = checkEntry(data, {
      path: [...path, "data"],
      section: "data",
      registry: registries.sources,
      ctx,
    });
    if (d) out.evalData.set(i, d.params);
  });
  return out;
}

function checkRef(ref: unknown, path: PathSegment[], nodes: string[], ctx: CheckContext): void {
  if (typeof ref !== "string") return;
  const batch = BATCH_FIELDS.map((f) => `batch.${f}`);
  if (nodes.includes(ref) || batch.includes(ref)) return;
  const choices = [...nodes, ...batch];
  ctx.issues.push({
    location: ctx.locate(path),
    keyPath: formatKeyPath(path),
    message: `unknown reference ${JSON.stringify(ref)}${suggestion(ref, choices)}`,
    expected: "a node defined under nodes: or a batch field, one of",
    choices,
  });
}

function checkRefs(raw: Params, ctx: CheckContext): void {
  const nodes = Object.keys(asRecord(raw.nodes) ?? {});
  const each = (value: unknown, path: PathSegment[]): void => {
    if (Array.isArray(value)) value.forEach((v, i) => checkRef(v, [...path, i], nodes, ctx));
    else checkRef(value, path, nodes, ctx);
  };
  for (const [name, entry] of Object.entries(asRecord(raw.nodes) ?? {})) {
    each(asRecord(entry)?.input, ["nodes", name, "input"]);
  }
  list(raw.losses).forEach((entry, i) => {
    for (const [role, value] of Object.entries(asRecord(asRecord(entry)?.inputs) ?? {})) {
      each(value, ["losses", i, "inputs", role]);
    }
  });
}

/**
 * Gives unnamed entries a name: the kind, or `<kind>_<index>` when another
 * entry is (or would be) called the same; flags duplicate names.
 */
function assignNames(
  entries: { kind: string; name?: string }[],
  section: string,
  ctx: CheckContext,
): string[] {
  const names = entries.map((e, i) => {
    if (e.name !== undefined) return e.name;
    const clash = entries.some((o, j) => j !== i && (o.name ?? o.kind) === e.kind);
    return clash ? `${e.kind}_${i}` : e.kind;
  });
  names.forEach((name, i) => {
    const first = names.indexOf(name);
    if (first === i) return;
    const path = [section, i, "name"];
    ctx.issues.push({
      location: ctx.locate(path),
      keyPath: formatKeyPath(path),
      message: `duplicate ${section === "losses" ? "loss" : "eval"} name ${JSON.stringify(name)}`,
      expected: `a name not already used by ${section}[${first}]`,
    });
  });
  return names;
}

/**
 * With `train.ema.evaluate: both` the raw weights' results of evaluator `x`
 * are saved as `x_raw`: no evaluator may already be called that.
 */
function checkRawResultNames(s: RecipeStructure, evalNames: string[], ctx: CheckContext): void {
  if (s.train.ema?.evaluate !== "both") return;
  evalNames.forEach((name, i) => {
    const taken = evalNames.indexOf(`${name}_raw`);
    if (taken < 0) return;
    const path = ["eval", taken, "name"];
    ctx.issues.push({
      location: ctx.locate(path),
      keyPath: formatKeyPath(path),
      message: `eval name ${JSON.stringify(`${name}_raw`)} is where train.ema.evaluate: both ` +
        `saves the raw weights' results of eval[${i}] (${JSON.stringify(name)})`,
      expected: `another name for eval[${taken}]`,
    });
  });
}

function assemble(
  s: RecipeStructure,
  checked: Checked,
  names: { losses: string[]; eval: string[]; recipe: string },
): ResolvedRecipe {
  const nodes: ResolvedRecipe["nodes"] = {};
  for (const [name, node] of Object.entries(s.nodes)) {
    nodes[name] = { ...node, params: checked.nodes.get(name)! };
  }
  const losses = s.losses.map((loss, i) => {
    const { params, roles } = checked.losses.get(i)!;
    const inputs: Record<string, string | string[]> = {};
    for (const [role, ref] of Object.entries(loss.inputs)) {
      const isList = roles.find((r) => r.name === role)?.list ?? false;
      inputs[role] = isList && typeof ref === "string" ? [ref] : ref;
    }
    return { kind: loss.kind, name: names.losses[i], inputs, weight: loss.weight, params };
  });
  const evals = (s.eval ?? []).map((e, i) => ({
    kind: e.kind,
    name: names.eval[i],
    params: checked.eval.get(i)!,
    ...(e.data && { data: { kind: e.data.kind, params: checked.evalData.get(i)! } }),
  }));
  const data = { kind: s.data.kind, params: checked.data! };
  return { ...s, name: s.name ?? names.recipe, data, nodes, losses, eval: evals };
}

/**
 * Validates `raw` (the merged, interpolated recipe as plain data). Returns
 * the resolved recipe, or every issue found (structure, components, roles,
 * references, names) when there is any.
 */
export function validateRecipe(
  raw: unknown,
  options: {
    registries: Registries;
    locate(path: PathSegment[], key?: boolean): SourceLocation;
    defaultName: string;
  },
): { recipe?: ResolvedRecipe; issues: RecipeIssue[] } {
  const ctx: CheckContext = { locate: options.locate, issues: [] };
  const structure = parseStructure(raw);
  ctx.issues.push(...issuesFromZod(structure.issues, {
    prefix: [],
    value: raw,
    locate: options.locate,
    keysAt: structureKeysAt,
  }));
  const obj = asRecord(raw) ?? {};
  const checked = checkComponents(obj, options.registries, ctx);
  checkRefs(obj, ctx);
  checkEvalRefs(obj, options.registries, ctx);
  checkTeacherRefs(obj, options.registries, ctx);
  checkGradientCache(obj, ctx);
  const s = structure.value;
  if (!s) return { issues: ctx.issues };
  const names = {
    losses: assignNames(s.losses, "losses", ctx),
    eval: assignNames(s.eval ?? [], "eval", ctx),
    recipe: options.defaultName,
  };
  checkRawResultNames(s, names.eval, ctx);
  if (ctx.issues.length > 0) return { issues: ctx.issues };
  return { recipe: assemble(s, checked, names), issues: [] };
}
