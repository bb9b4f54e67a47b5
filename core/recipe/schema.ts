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
  EmaConfig,
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
  kind: z.string().describe("Module kind: one of the registered modules (see Nodes)."),
  input: unsettable(refs).describe(
    "Input reference(s): `batch.image`, `batch.caption`, `batch.label` or another node's name; " +
      "a list when the module reads several inputs.",
  ),
  phase: z.enum(["train", "all"]).default("all").describe(
    "`train`: the node exists only in the training graph; `all`: also at inference.",
  ),
  init_from: unsettable(z.union([
    z.string().min(1),
    z.strictObject({
      path: z.string().min(1).describe("Run directory or `.safetensors` file."),
      node: z.string().min(1).optional().describe(
        "Node name (name prefix) in that checkpoint (default: this node's; `timm`: none).",
      ),
      layout: z.enum(["novalab", "timm"]).default("novalab").describe(
        "`timm`: a PyTorch timm checkpoint (Linear weights [out, in], a Conv2d patch " +
          "embedding; `head.*` skipped), converted on reading.",
      ),
      mean: z.array(num()).min(1).optional().describe(
        "Per-channel pixel mean the weights were trained with (timm's `mean`, e.g. ImageNet's " +
          "[0.485, 0.456, 0.406]); folded into the patch embedding, as novalab feeds [0, 1].",
      ),
      std: z.array(positive()).min(1).optional().describe(
        "Per-channel pixel std the weights were trained with (with `mean`).",
      ),
      grey: z.boolean().default(false).describe(
        "Read RGB weights into a one-channel node: each grey image is taken as an RGB one with " +
          "equal channels (the patch embedding summed over channels, after mean/std).",
      ),
      resample: z.union([z.boolean(), z.enum(["bilinear", "bicubic"])]).default(false)
        .describe(
          "Resample position embeddings for another patch grid (a square one) to the node's, " +
            "the CLS position kept: `bilinear` (or `true`), or `bicubic` as timm's " +
            "`resample_abs_pos_embed` does by default (PyTorch's antialiased bicubic).",
        ),
    }).refine((v) => (v.mean === undefined) === (v.std === undefined), {
      message: "expected mean and std together",
      path: ["std"],
    }),
  ])).describe(
    "Start from trained parameters: a run directory (its exported model, else its latest " +
      "checkpoint) or a `.safetensors` file, or `{ path, node, layout }` to read another " +
      "node's, or a timm ViT. Every parameter must be there with its shape.",
  ),
  freeze: z.union([
    z.boolean(),
    z.strictObject({
      until: positiveInt().describe("The first step (0-based) at which the node trains."),
      warmup: nonNegativeInt().default(0).describe(
        "Updates over which the node's rate then ramps linearly up to the schedule's " +
          "(update i of W at `lr · i/W`; 0: none).",
      ),
    }),
  ]).default(false).describe(
    "Keep the node's parameters fixed: no gradients, no optimiser state, no weight decay " +
      "(still saved in checkpoints). `{ until: N }`: fixed for steps 0 … N−1, then trained " +
      "(linear probe, then fine-tune: LP-FT), its AdamW moments and bias corrections " +
      "starting at step N.",
  ),
  lr_scale: unsettable(positive()).describe(
    "Learning-rate multiplier of the node's parameters (default 1): AdamW steps them with " +
      "`lr · lr_scale`, decay included — e.g. 0.1 to fine-tune a pre-trained encoder gently.",
  ),
  layer_decay: unsettable(
    num().pipe(
      z.number().gt(0, "expected a number in (0, 1]").lte(1, "expected a number in (0, 1]"),
    ),
  ).describe(
    "Layer-wise learning-rate decay k (BEiT, MAE fine-tuning) of a transformer node " +
      "(vit, text_transformer) of depth L: block i is stepped at `lr · k^(L−i)`, the " +
      "embeddings at `lr · k^(L+1)`, the final norm at `lr`; times lr_scale. 0.65–0.75 " +
      "when fine-tuning a pre-trained encoder.",
  ),
}).catchall(z.unknown()).superRefine((node, ctx) => {
  for (const key of ["lr_scale", "layer_decay"] as const) {
    if (node.freeze === true && node[key] !== undefined) {
      ctx.addIssue({
        code: "custom",
        path: [key],
        message: `expected no ${key} on a frozen node (freeze: true trains nothing)`,
      });
    }
  }
}).transform((
  { kind, input, phase, init_from, freeze, lr_scale, layer_decay, ...params },
): ResolvedNode => ({
  kind,
  input: input === undefined ? [] : typeof input === "string" ? [input] : input,
  phase,
  ...(init_from !== undefined && {
    initFrom: typeof init_from === "string" ? { path: init_from } : {
      path: init_from.path,
      ...(init_from.node !== undefined && { node: init_from.node }),
      ...(init_from.layout !== "novalab" && { layout: init_from.layout }),
      ...(init_from.mean !== undefined && { mean: init_from.mean, std: init_from.std }),
      ...(init_from.grey && { grey: true }),
      ...(init_from.resample !== false && {
        resample: init_from.resample === true ? "bilinear" : init_from.resample,
      }),
    },
  }),
  freeze: freeze === true,
  ...(typeof freeze === "object" && { frozenUntil: freeze.until }),
  ...(typeof freeze === "object" && freeze.warmup > 0 && { unfreezeWarmup: freeze.warmup }),
  ...(lr_scale !== undefined && lr_scale !== 1 && { lrScale: lr_scale }),
  ...(layer_decay !== undefined && layer_decay !== 1 && { layerDecay: layer_decay }),
  params,
}));

const lossSchema = z.object({
  kind: z.string().describe("Loss kind: one of the registered losses (see Losses)."),
  name: unsettable(z.string().regex(IDENT, "expected a name of letters, digits and _")).describe(
    "Unique name in the logged terms (default: the kind, or `<kind>_<index>` when taken).",
  ),
  inputs: z.record(z.string(), refs).describe(
    "Role → reference(s); each loss kind lists its roles (`x[]`: a list, `?`: optional).",
  ),
  weight: num().default(1).describe(
    "Weight in the total loss; arithmetic such as `1 - ${lambda}` is evaluated.",
  ),
}).catchall(z.unknown()).transform(({ kind, name, inputs, weight, ...params }) => ({
  kind,
  name,
  inputs,
  weight,
  params,
}));

const dataSchema = z.object({
  kind: z.string().describe("Data-source kind: one of the registered sources (see Data sources)."),
}).catchall(z.unknown())
  .transform(({ kind, ...params }): ResolvedData => ({ kind, params }));

const evalSchema = z.object({
  kind: z.string().describe("Evaluator kind: one of the registered evaluators (see Evaluators)."),
  name: unsettable(z.string().regex(IDENT, "expected a name of letters, digits and _")).describe(
    "Unique name in `eval.json` (default: the kind, or `<kind>_<index>` when taken).",
  ),
  data: unsettable(dataSchema).describe(
    "Another data source to evaluate on (transfer: train on one dataset, score another), " +
      "written like `data:`; absent: the recipe's `data:`. Built and checked before training.",
  ),
}).catchall(z.unknown()).transform(({ kind, name, data, ...params }) => ({
  kind,
  name,
  params,
  ...(data && { data }),
}));

const optimizerSchema = z.strictObject({
  kind: z.enum(["adamw"]).describe("Only `adamw` (decoupled weight decay) for now."),
  lr: positive().describe("Peak learning rate."),
  weight_decay: nonNegative().default(0).describe(
    "Decoupled weight decay (parameters flagged `decay`: weights, not biases or norms).",
  ),
  betas: z.tuple([probability(), probability()]).default([0.9, 0.999]).describe("Adam betas."),
  eps: positive().default(1e-8).describe("Adam epsilon."),
});

const scheduleKind = z.enum(["constant", "warmup_cosine"]);

/** A schedule map, or its kind alone (`schedule: warmup_cosine`). */
const scheduleSchema = z.union([
  z.strictObject({
    kind: scheduleKind.describe(
      "`constant`, or `warmup_cosine` (cosine decay to `min_lr_ratio · lr`); both warm up linearly.",
    ),
    warmup: nonNegativeInt().default(0).describe(
      "Linear warm-up steps (at most `train.steps − 1`: a longer warm-up is cut, with a warning).",
    ),
    min_lr_ratio: probability().default(0).describe(
      "Final learning rate as a fraction of `lr` for cosine decay.",
    ),
  }),
  // After the map: a map's errors then name its keys (`train.schedule.kind`).
  scheduleKind.transform((kind): ScheduleConfig => ({ kind, warmup: 0, min_lr_ratio: 0 })),
]);

/** A decay in `[0, 1)` (expressions allowed: `"1 - 1e-4"`). */
const emaDecay = () =>
  num().pipe(
    z.number().min(0, "expected >= 0").lt(1, "expected < 1"),
  ) as unknown as z.ZodType<number>;

const emaEvaluate = z.enum(["averaged", "raw", "both"]);

/** The map, or `ema: 0.999` (the map first: errors inside a map name its keys). */
const emaSchema = z.union([
  z.strictObject({
    decay: emaDecay().describe(
      "Share of the old average kept at each update (typical 0.999–0.9999).",
    ),
    warmup: z.boolean().default(false).describe(
      "Ramp the decay as `min(decay, n / (n + 9))` over the first updates `n`.",
    ),
    debias: z.boolean().optional().describe(
      "Correct the average's pull towards the initial weights as Adam corrects its moments: " +
        "update `n` uses decay `1 − (1 − decay) / (1 − decayⁿ)`, so the average is the " +
        "decay-weighted mean of the weights after each update, the initial ones excluded " +
        "(absent: false).",
    ),
    evaluate: emaEvaluate.default("averaged").describe(
      "Which weights the evaluators and `model.safetensors` see: `averaged`, `raw`, or `both` " +
        "(the raw weights' results as `<name>_raw` in `eval.json`); diagnostics during training " +
        "see the averaged ones unless `raw`.",
    ),
  }).refine((ema) => !(ema.warmup && ema.debias), {
    message: "expected warmup or debias, not both (each replaces the early decays)",
    path: ["debias"],
  }),
  emaDecay().transform((decay): EmaConfig => ({ decay, warmup: false, evaluate: "averaged" })),
]);

const trainSchema = z.strictObject({
  steps: positiveInt().describe("Optimiser steps."),
  batch: positiveInt().describe("Samples per micro-batch."),
  accumulate: positiveInt().default(1).describe(
    "Micro-batches per optimiser step: losses and gradients are averaged over them (with " +
      "`gradient_cache`: the losses see all of them at once); `queue` and `group_queue` nodes " +
      "take every micro-batch's rows and a `center` their mean, once per update; batch norms " +
      "fold the statistics of all their rows into the running ones.",
  ),
  gradient_cache: z.boolean().optional().describe(
    "GradCache (open_clip's `--accum-freq`): with `accumulate` > 1 the losses see the whole " +
      "step's `batch × accumulate` samples at once — every one a negative of every other — " +
      "with the gradients of that whole batch, while the gradient tape holds one micro-batch: " +
      "each micro-batch is encoded off the tape, the losses run on the joined inputs, then " +
      "each micro-batch runs again on the tape with its share of the losses' gradients (one " +
      "more forward pass of the trained towers; frozen towers and teachers are not run " +
      "again). Not with losses reading a `queue` or `group_queue` (absent: false: each " +
      "micro-batch's losses on their own, averaged).",
  ),
  optimizer: optimizerSchema.describe("Optimiser settings."),
  schedule: scheduleSchema.default({ kind: "constant", warmup: 0, min_lr_ratio: 0 }).describe(
    "Learning-rate schedule: a map, or its kind alone (`schedule: warmup_cosine`).",
  ),
  clip_grad_norm: unsettable(positive()).describe(
    "Clip gradients to this global norm (absent or `null`: no clipping).",
  ),
  ema: unsettable(emaSchema).describe(
    "Exponential moving average of the trained weights, checkpointed as `ema.<param>`: " +
      "a decay alone (`ema: 0.999`) or a map (absent or `null`: none).",
  ),
  log_every: positiveInt().default(10).describe("Log metrics every this many steps."),
  checkpoint_every: nonNegativeInt().default(0).describe(
    "Checkpoint every this many steps (0: only at the end).",
  ),
});

const nodeName = z.string().regex(IDENT, "expected a name of letters, digits and _")
  .refine((n) => n !== "batch", "expected a name other than `batch` (reserved for batch.<field>)")
  .refine(
    (n) => n !== "optim" && n !== "ema",
    "expected a name other than `optim` and `ema` (checkpoints name optimiser state and weight " +
      "averages optim.* and ema.*)",
  );

const recipeSchema = z.strictObject({
  name: unsettable(
    z.string().regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
      "expected a run name of letters, digits, `.`, `_` and `-` (it names the run folder)",
    ),
  ).describe("Run name: the run folder is `runs/<name>-<time>/` (default: the file's stem)."),
  seed: nonNegativeInt().default(0).describe(
    "Seed of initialisation, data order, augmentation and SIGReg directions.",
  ),
  backend: z.enum(["auto", "webgpu", "wasm", "cpu"]).default("auto").describe(
    "Compute backend: `auto` picks WebGPU, then WASM, then CPU.",
  ),
  precision: z.enum(["fp32", "f16"]).default("fp32").describe(
    "Matmul operand precision: `f16` rounds matmul operands to half precision in novalab's " +
      "WebGPU kernel (fp32 products, sums and everything else; needs an adapter with " +
      "`shader-f16`, else the run stops before training).",
  ),
  vars: z.record(
    z.string().regex(IDENT, "expected a var name of letters, digits and _"),
    z.unknown(),
  )
    .default({}).describe(
      "Values substituted for `${name}` everywhere (typed when a value is exactly `${name}`).",
    ),
  data: dataSchema.describe("The data source: `kind` plus the source's parameters."),
  nodes: z.record(nodeName, nodeSchema).describe(
    "Graph nodes by name: `kind`, `input`, `phase` plus the module's parameters.",
  ),
  losses: z.array(lossSchema).min(1).describe(
    "Weighted loss terms: `kind`, `name`, `inputs`, `weight` plus the term's parameters.",
  ),
  train: trainSchema.describe("Training loop settings (the `train.*` rows)."),
  eval: unsettable(z.array(evalSchema)).describe(
    "Evaluators run on the inference graph after training: `kind`, `name` plus parameters.",
  ),
}).superRefine((recipe, ctx) => {
  for (const [name, node] of Object.entries(recipe.nodes)) {
    if (node.frozenUntil === undefined || node.frozenUntil < recipe.train.steps) continue;
    ctx.addIssue({
      code: "custom",
      path: ["nodes", name, "freeze", "until"],
      message: `expected a step before train.steps (${recipe.train.steps}): the node would ` +
        "never train; freeze: true keeps it fixed all run",
    });
  }
  for (const [name, node] of Object.entries(recipe.nodes)) {
    const params = node.params as { patch_dropout?: { until?: unknown } } | undefined;
    const until = params?.patch_dropout?.until;
    if (typeof until !== "number" || until < recipe.train.steps) continue;
    ctx.addIssue({
      code: "custom",
      path: ["nodes", name, "patch_dropout", "until"],
      message: `expected a step before train.steps (${recipe.train.steps}): no step would see ` +
        "every patch; patch_dropout: <rate> drops for the whole run",
    });
  }
});

/**
 * The structural schemas, for documentation tools (`tools/recipe_reference.ts`
 * renders their keys, defaults and descriptions): the whole recipe, `train:`,
 * and one node, loss, data or eval entry (their structural keys only; the
 * rest are the component's parameters). Parse recipes with
 * {@link parseStructure}, not with these.
 */
export const STRUCTURE_SCHEMAS: Readonly<
  Record<"recipe" | "train" | "node" | "loss" | "data" | "eval", z.ZodType>
> = {
  recipe: recipeSchema,
  train: trainSchema,
  node: nodeSchema,
  loss: lossSchema,
  data: dataSchema,
  eval: evalSchema,
};

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
  nodes: ["kind", "input", "phase", "init_from", "freeze", "lr_scale", "layer_decay"],
  losses: ["kind", "name", "inputs", "weight"],
  data: ["kind"],
  eval: ["kind", "name", "data"],
};
