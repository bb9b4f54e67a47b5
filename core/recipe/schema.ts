/**
 * The recipe's structural schema (module-private zod objects): top-level
 * keys, `train`, and the structural keys of nodes, losses, data and eval
 * entries. Component parameters are collected into `params` here and
 * validated against the registries in `validate.ts`.
 *
 * @module
 */
import { z } from "zod";
import { nonNegative, num, positiveInt, probability } from "../schema.ts";
import type { PathSegment } from "./tree.ts";
import { objectKeysAt, type SchemaIssue } from "./zod_issues.ts";
import type {
  ResolvedData,
  ResolvedEval,
  ResolvedLoss,
  ResolvedNode,
  ResolvedRecipe,
  ScheduleConfig,
} from "./types.ts";

const IDENT = /^[A-Za-z_][A-Za-z0-9_]*$/;

function positive(): z.ZodType<number> {
  return num().pipe(z.number().positive()) as unknown as z.ZodType<number>;
}

function nonNegativeInt(): z.ZodType<number> {
  return nonNegative().pipe(z.number().int("expected an integer")) as unknown as z.ZodType<
    number
  >;
}

/** `null` means "unset" (e.g. to drop an inherited `clip_grad_norm`). */
function unsettable<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === null ? undefined : v), schema.optional());
}

const refs = z.union([z.string(), z.array(z.string())]);

const nodeSchema = z.object({
  kind: z.string(),
  input: unsettable(refs),
  phase: z.enum(["train", "all"]).default("all"),
}).catchall(z.unknown()).transform(({ kind, input, phase, ...params }): ResolvedNode => ({
  kind,
  input: input === undefined ? [] : typeof input === "string" ? [input] : input,
  phase,
  params,
}));

const lossSchema = z.object({
  kind: z.string(),
  name: unsettable(z.string().regex(IDENT, "expected a name of letters, digits and _")),
  inputs: z.record(z.string(), refs),
  weight: num().default(1),
}).catchall(z.unknown()).transform(({ kind, name, inputs, weight, ...params }) => ({
  kind,
  name,
  inputs,
  weight,
  params,
}));

const dataSchema = z.object({ kind: z.string() }).catchall(z.unknown())
  .transform(({ kind, ...params }): ResolvedData => ({ kind, params }));

const evalSchema = z.object({
  kind: z.string(),
  name: unsettable(z.string().regex(IDENT, "expected a name of letters, digits and _")),
}).catchall(z.unknown()).transform(({ kind, name, ...params }) => ({ kind, name, params }));

const optimizerSchema = z.strictObject({
  kind: z.enum(["adamw"]),
  lr: positive(),
  weight_decay: nonNegative().default(0),
  betas: z.tuple([probability(), probability()]).default([0.9, 0.999]),
  eps: positive().default(1e-8),
});

const scheduleKind = z.enum(["constant", "warmup_cosine"]);

/** A schedule map, or its kind alone (`schedule: warmup_cosine`). */
const scheduleSchema = z.union([
  scheduleKind.transform((kind): ScheduleConfig => ({ kind, warmup: 0, min_lr_ratio: 0 })),
  z.strictObject({
    kind: scheduleKind,
    warmup: nonNegativeInt().default(0),
    min_lr_ratio: probability().default(0),
  }),
]);

const trainSchema = z.strictObject({
  steps: positiveInt(),
  batch: positiveInt(),
  accumulate: positiveInt().default(1),
  optimizer: optimizerSchema,
  schedule: scheduleSchema.default({ kind: "constant", warmup: 0, min_lr_ratio: 0 }),
  clip_grad_norm: unsettable(positive()),
  log_every: positiveInt().default(10),
  checkpoint_every: nonNegativeInt().default(0),
});

const nodeName = z.string().regex(IDENT, "expected a name of letters, digits and _")
  .refine((n) => n !== "batch", "expected a name other than `batch` (reserved for batch.<field>)");

const recipeSchema = z.strictObject({
  name: unsettable(
    z.string().regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
      "expected a run name of letters, digits, `.`, `_` and `-` (it names the run folder)",
    ),
  ),
  seed: nonNegativeInt().default(0),
  backend: z.enum(["auto", "webgpu", "wasm", "cpu"]).default("auto"),
  vars: z.record(
    z.string().regex(IDENT, "expected a var name of letters, digits and _"),
    z.unknown(),
  )
    .default({}),
  data: dataSchema,
  nodes: z.record(nodeName, nodeSchema),
  losses: z.array(lossSchema).min(1),
  train: trainSchema,
  eval: unsettable(z.array(evalSchema)),
});

/** A loss entry before default names are assigned. */
export type StructuredLoss = Omit<ResolvedLoss, "name"> & { name?: string };

/** An eval entry before default names are assigned. */
export type StructuredEval = Omit<ResolvedEval, "name"> & { name?: string };

/**
 * What the structural schema produces: a {@link ResolvedRecipe} whose name
 * and entry names may still be missing and whose params are not yet
 * validated against the registries.
 */
export interface RecipeStructure extends Omit<ResolvedRecipe, "name" | "losses" | "eval"> {
  /** Explicit run name, if any. */
  name?: string;
  /** Loss entries. */
  losses: StructuredLoss[];
  /** Eval entries (absent: none). */
  eval?: StructuredEval[];
}

/** Top-level keys a recipe file may hold (`extends` is consumed while loading). */
export const TOP_LEVEL_KEYS: readonly string[] = ["extends", ...Object.keys(recipeSchema.shape)];

/**
 * Parses the structure of a merged, interpolated recipe. The annotation
 * `RecipeStructure` on the parsed data is the compile-time type test: the
 * schema's inferred output must stay assignable to the hand-written
 * interfaces of `types.ts`.
 */
export function parseStructure(
  raw: unknown,
): { value?: RecipeStructure; issues: SchemaIssue[] } {
  const result = recipeSchema.safeParse(raw);
  if (!result.success) return { issues: result.error.issues };
  const value: RecipeStructure = result.data;
  return { value, issues: [] };
}

/**
 * The keys the structural schema accepts for the object at `path` (e.g.
 * `["train", "optimizer"]`), for "unknown key" choices; `undefined` when
 * there is no fixed set there.
 */
export function structureKeysAt(path: readonly PathSegment[]): string[] | undefined {
  if (path.length === 0) return [...TOP_LEVEL_KEYS];
  return objectKeysAt(recipeSchema, path);
}

/** Structural keys of a node, loss, data or eval entry (the rest are params). */
export const STRUCTURAL_KEYS: Readonly<Record<string, readonly string[]>> = {
  nodes: ["kind", "input", "phase"],
  losses: ["kind", "name", "inputs", "weight"],
  data: ["kind"],
  eval: ["kind", "name"],
};
