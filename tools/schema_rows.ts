/**
 * Parameter rows of a zod schema for the generated recipe reference: name,
 * type (with enum choices and ranges), default and description, read through
 * zod 4's JSON Schema export (`z.toJSONSchema`). The output view gives types,
 * ranges and defaults after parsing; the input view tells which keys a recipe
 * must write (no default, not optional). Nested objects (e.g. `views.jitter`,
 * `train.optimizer`) become dotted rows.
 *
 * @module
 */
import { z } from "zod";
import type { ParamSchema } from "../core/registry.ts";
import { code } from "./markdown.ts";

/** One documented parameter. */
export interface ParamRow {
  /** Key path, e.g. `lr` or `optimizer.lr`. */
  name: string;
  /** Human-readable type, e.g. `integer > 0`, `one of cls, tokens`. */
  type: string;
  /** The default as YAML-like text, `required`, or `—` (optional, no default). */
  default: string;
  /** The schema's description (`.describe()` / `.meta({ description })`), or `""`. */
  description: string;
}

/** A JSON Schema node as zod emits it. */
export type Json = Record<string, unknown>;

/** The largest safe integer, which zod writes as the bound of every `int()`. */
const SAFE = Number.MAX_SAFE_INTEGER;

const BOUNDS = ["minimum", "exclusiveMinimum", "maximum", "exclusiveMaximum"];

/** Whether `v` is a real bound (zod writes ±`MAX_SAFE_INTEGER` on every `int()`). */
function isBound(v: unknown): v is number {
  return typeof v === "number" && Math.abs(v) < SAFE;
}

/**
 * JSON Schema of `schema` in one direction (`unrepresentable` parts become
 * `{}`). A pipe such as `num().pipe(z.number().int())` shows only its last
 * stage; the bounds of earlier stages (`>= 0` of `nonNegative()`) are copied
 * onto it so ranges are complete.
 */
function jsonSchema(schema: z.ZodType, io: "input" | "output"): Json {
  return z.toJSONSchema(schema, {
    io,
    unrepresentable: "any",
    override: (ctx) => {
      const def = (ctx.zodSchema as unknown as { _zod: { def: Json } })._zod.def;
      const node = ctx.jsonSchema as Json;
      if (io !== "output" || def.type !== "pipe") return;
      if (node.type !== "number" && node.type !== "integer") return;
      const inner = jsonSchema(def.in as z.ZodType, io);
      for (const key of BOUNDS) {
        if (isBound(inner[key]) && !isBound(node[key])) node[key] = inner[key];
      }
    },
  }) as Json;
}

/** `value` rounded for display (six significant digits). */
function number(value: number): string {
  return Number.isInteger(value) ? String(value) : String(Number(value.toPrecision(6)));
}

/**
 * A value as compact YAML-like text: JSON with rounded numbers; with `bare`,
 * a plain word such as `tiny` is written without quotes.
 */
export function showValue(value: unknown, bare = false): string {
  if (bare && typeof value === "string" && /^[A-Za-z0-9_./-]+$/.test(value)) return value;
  if (typeof value === "number") return number(value);
  if (Array.isArray(value)) return `[${value.map((v) => showValue(v)).join(", ")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Json).map(([k, v]) => `${k}: ${showValue(v)}`);
    return entries.length ? `{ ${entries.join(", ")} }` : "{}";
  }
  return JSON.stringify(value);
}

/** `integer > 0`, `number in [0, 1)`, … from a numeric node's bounds. */
function numericType(node: Json): string {
  const base = node.type === "integer" ? "integer" : "number";
  const bound = (key: string) => isBound(node[key]) ? node[key] as number : undefined;
  const lo = bound("minimum") ?? bound("exclusiveMinimum");
  const hi = bound("maximum") ?? bound("exclusiveMaximum");
  const loOpen = bound("minimum") === undefined;
  const hiOpen = bound("maximum") === undefined;
  if (lo !== undefined && hi !== undefined) {
    return `${base} in ${loOpen ? "(" : "["}${number(lo)}, ${number(hi)}${hiOpen ? ")" : "]"}`;
  }
  if (lo !== undefined) return `${base} ${loOpen ? ">" : "≥"} ${number(lo)}`;
  if (hi !== undefined) return `${base} ${hiOpen ? "<" : "≤"} ${number(hi)}`;
  return base;
}

/**
 * A readable type for a JSON Schema node. `alt` is the same schema's input
 * view, used where the output view is empty (a transform, e.g. a schedule
 * given as a bare kind string).
 */
export function typeText(node: Json, alt?: Json): string {
  if (isEmpty(node) && alt && !isEmpty(alt)) return typeText(alt);
  if (Array.isArray(node.enum)) return `one of ${node.enum.map((v) => code(String(v))).join(", ")}`;
  if ("const" in node) return code(showValue(node.const));
  const options = (node.anyOf ?? node.oneOf) as Json[] | undefined;
  if (options) {
    const altOptions = (alt?.anyOf ?? alt?.oneOf) as Json[] | undefined;
    return [...new Set(options.map((o, i) => typeText(o, altOptions?.[i])))].join(" or ");
  }
  // An input view of `num()`: a number, or arithmetic in a string.
  if (Array.isArray(node.type) && node.type.includes("number")) return "number";
  switch (node.type) {
    case "integer":
    case "number":
      return numericType(node);
    case "string":
    case "boolean":
      return node.type;
    case "array": {
      if (Array.isArray(node.prefixItems)) {
        return `[${(node.prefixItems as Json[]).map((item) => typeText(item)).join(", ")}]`;
      }
      const item = node.items && typeof node.items === "object"
        ? typeText(node.items as Json, alt?.items as Json | undefined)
        : "";
      const list = ((node.minItems as number | undefined) ?? 0) >= 1 ? "non-empty list" : "list";
      return item && item !== "any" ? `${list} of ${item}` : list;
    }
    case "object": {
      const values = node.additionalProperties;
      if (!node.properties && values && typeof values === "object") {
        const value = typeText(values as Json, alt?.additionalProperties as Json | undefined);
        return value === "any" ? "map" : `map of name → ${value}`;
      }
      return "map";
    }
  }
  return "any";
}

/** Whether `node` is empty: what zod writes for a transform it cannot describe. */
function isEmpty(node: Json | undefined): boolean {
  return !node || Object.keys(node).every((k) => k === "description" || k === "$schema");
}

/** The parts of a zod definition this module reads. */
interface Def {
  type: string;
  shape?: Record<string, z.ZodType>;
  innerType?: z.ZodType;
  in?: z.ZodType;
  out?: z.ZodType;
  options?: z.ZodType[];
}

function defOf(schema: z.ZodType): Def {
  return (schema as unknown as { _zod: { def: Def } })._zod.def;
}

/**
 * The object schema inside `schema` — through defaults, optionals, pipes
 * (their parsed side) and unions (the first object member) — if any.
 */
function objectIn(schema: z.ZodType): z.ZodType | undefined {
  const def = defOf(schema);
  switch (def.type) {
    case "object":
      return schema;
    case "default":
    case "prefault":
    case "optional":
    case "nullable":
    case "readonly":
    case "catch":
      return objectIn(def.innerType!);
    case "pipe":
      return objectIn(defOf(def.in!).type === "transform" ? def.out! : def.in!);
    case "union":
      return def.options!.map(objectIn).find((o) => o !== undefined);
  }
  return undefined;
}

/**
 * The documented parameters of an object schema (a registry entry's params,
 * or a structural part of the recipe), in declaration order; the keys of a
 * nested object follow their parent as dotted rows.
 *
 * @param schema A zod object schema (possibly wrapped in a default, a
 *   transform or a union with a non-object form).
 * @param prefix Written before every key (e.g. `"train."`).
 */
export function paramRows(schema: ParamSchema, prefix = ""): ParamRow[] {
  const object = objectIn(schema);
  if (!object) return [];
  const required = new Set((jsonSchema(object, "input").required ?? []) as string[]);
  const rows: ParamRow[] = [];
  for (const [key, property] of Object.entries(defOf(object).shape ?? {})) {
    const out = jsonSchema(property, "output");
    const input = jsonSchema(property, "input");
    const fallback = out.default ?? input.default;
    rows.push({
      name: prefix + key,
      type: typeText(out, input),
      default: fallback !== undefined
        ? showValue(fallback, true)
        : required.has(key)
        ? "required"
        : "—",
      description: String(out.description ?? input.description ?? ""),
    });
    rows.push(...paramRows(property, `${prefix}${key}.`));
  }
  return rows;
}
