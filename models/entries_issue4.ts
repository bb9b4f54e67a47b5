/**
 * Registry entries of the issue-4 modules: `fusion` (ITO's training-time
 * fusion transformer), `prototypes` (nCLIP's prototype head),
 * `text_transformer` (a text tower trained from scratch), `take_token` (one
 * token of a sequence) and `hf_text` (a frozen transformers.js tower).
 * Re-exported by `models/entries.ts`.
 *
 * @module
 */
import { z } from "zod";
import type { ModuleFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { num, positiveInt } from "../core/schema.ts";
import type { BuildContext, Shape } from "../core/types.ts";
import { fusionInputDims, FusionTransformer } from "./fusion.ts";
import { hfTextEntries } from "./hf_text.ts";
import { PrototypeHead } from "./prototype_head.ts";
import { TextTransformer } from "./text_transformer.ts";
import { blockCheckpointing, checkpointParam } from "./checkpoint_schema.ts";
import { TakeToken } from "./tokens.ts";

function show(shape: Shape | undefined): string {
  return `[${(shape ?? []).join(", ")}]`;
}

function lastDim(ctx: BuildContext, kind: string, minRank: number): number {
  const shape = ctx.inputShapes[0];
  const dim = shape?.at(-1);
  if (!shape || shape.length < minRank || dim === undefined || dim < 1) {
    throw new Error(
      `node "${ctx.name}" (${kind}) expects an input of rank >= ${minRank} ` +
        `(${
          minRank > 1 ? "tokens [B, ..., T, D], e.g. a vit with output: tokens" : "[..., D]"
        }), ` +
        `got ${show(shape)}`,
    );
  }
  return dim;
}

function divisible(ctx: BuildContext, what: { width: number; heads: number }): void {
  if (what.width % what.heads !== 0) {
    throw new Error(
      `node "${ctx.name}": width ${what.width} is not divisible by heads ${what.heads}; ` +
        `choose heads that divide the width`,
    );
  }
}

const fusionSchema = z.strictObject({
  width: positiveInt().default(512).describe("Width W of the fusion transformer."),
  layers: positiveInt().default(2).describe("Number of fusion blocks."),
  heads: positiveInt().default(8).describe("Attention heads (must divide `width`)."),
  mlp_ratio: positiveInt().default(4).describe("MLP hidden width as a multiple of W."),
});

const createFusion: ModuleFactory = (p: z.infer<typeof fusionSchema>, ctx) => {
  divisible(ctx, p);
  const dims = fusionInputDims(ctx.inputShapes, ctx.name);
  return new FusionTransformer(
    { ...dims, width: p.width, layers: p.layers, heads: p.heads, mlpRatio: p.mlp_ratio },
    ctx,
  );
};

const prototypesSchema = z.strictObject({
  prototypes: positiveInt().default(32768).describe("Number of prototypes Kp (output width)."),
});

const textTransformerSchema = z.strictObject({
  vocab: positiveInt().default(8192).describe(
    "Embedding-table rows the cl100k ids are folded into (see `models/subword.ts`).",
  ),
  buckets: positiveInt().optional().describe(
    "Hash buckets for rare cl100k ids (default: `vocab / 4`).",
  ),
  max_length: positiveInt().default(32).describe(
    "Sequence length L (SOT and EOT included); longer texts are truncated.",
  ),
  dim: positiveInt().default(64).describe("Width D; divisible by `heads`."),
  depth: positiveInt().default(2).describe("Number of blocks."),
  heads: positiveInt().default(4).describe("Attention heads."),
  mlp_ratio: positiveInt().default(4).describe("MLP hidden width as a multiple of D."),
  causal: z.boolean().default(true).describe(
    "Causal attention (CLIP's), or bidirectional when false.",
  ),
  pooling: z.enum(["eot", "cls", "mean"]).default("eot").describe(
    "Pooled output: the state at EOT (CLIP's), at position 0 (bidirectional only), or the mean " +
      "over real tokens.",
  ),
  output: z.enum(["pooled", "tokens"]).default("pooled").describe(
    "`pooled` → `[B, D]`; `tokens` → packed `[B, L, D + 1]` (last channel = mask).",
  ),
  checkpoint: checkpointParam("its input (and the attention masks)"),
});

const createTextTransformer: ModuleFactory = (p: z.infer<typeof textTransformerSchema>, ctx) => {
  const shape = ctx.inputShapes[0];
  if (shape && shape.length !== 0) {
    throw new Error(
      `node "${ctx.name}" (text_transformer) expects a list of strings such as batch.caption, ` +
        `got an input of shape ${show(shape)}`,
    );
  }
  divisible(ctx, { width: p.dim, heads: p.heads });
  const checkpoint = blockCheckpointing(p.checkpoint, p.depth, ctx.name);
  return new TextTransformer({
    vocab: p.vocab,
    buckets: p.buckets ?? Math.max(1, Math.floor(p.vocab / 4)),
    maxLength: p.max_length,
    dim: p.dim,
    depth: p.depth,
    heads: p.heads,
    mlpRatio: p.mlp_ratio,
    causal: p.causal,
    pooling: p.pooling,
    output: p.output,
    ...(checkpoint !== undefined && { checkpoint }),
  }, ctx);
};

const takeTokenSchema = z.strictObject({
  index: num().pipe(z.number().int("expected an integer")).default(0).describe(
    "Token position; negative counts from the end (0 = a ViT's CLS).",
  ),
});

const createTakeToken: ModuleFactory = (p: z.infer<typeof takeTokenSchema>, ctx) => {
  lastDim(ctx, "take_token", 3);
  const t = ctx.inputShapes[0]!.at(-2)!;
  if (t > 0 && (p.index >= t || p.index < -t)) {
    throw new Error(
      `node "${ctx.name}" (take_token): index ${p.index} is out of range for ${t} tokens; ` +
        `expected ${-t} <= index < ${t}`,
    );
  }
  return new TakeToken(p.index);
};

/** Module entries of issue 4 (register them into the module registry like `modelEntries`). */
export const issue4ModuleEntries: RegistryEntry<ModuleFactory>[] = [
  {
    kind: "fusion",
    summary: "ITO fusion transformer (train-only): image tokens [V, B, T, Di] + packed text " +
      "tokens [B, L, Dt + 1] → L2-normalised CLS read-out [V, B, W]",
    arity: [2, 2],
    input: "two references, in order: image tokens `[V, B, T, Di]` or `[B, T, Di]` (a `vit` " +
      "with `output: tokens`), then packed text tokens `[B, L, Dt + 1]` (a text tower with " +
      "`output: tokens`).",
    schema: fusionSchema,
    create: createFusion,
  },
  {
    kind: "prototypes",
    summary: "nCLIP prototype head: [..., D] → cosine logits over Kp weight-normalised prototypes",
    arity: [1, 1],
    input: "one reference: embeddings `[..., D]`.",
    schema: prototypesSchema,
    create: (p: z.infer<typeof prototypesSchema>, ctx) =>
      new PrototypeHead({ inDim: lastDim(ctx, "prototypes", 1), prototypes: p.prototypes }, ctx),
  },
  {
    kind: "text_transformer",
    summary: "text transformer from scratch (cl100k BPE): strings → [B, D] by eot|cls|mean " +
      "pooling (output: tokens → packed [B, L, D + 1])",
    arity: [1, 1],
    input: "one reference: strings, such as `batch.caption`.",
    schema: textTransformerSchema,
    create: createTextTransformer,
  },
  {
    kind: "take_token",
    summary: "one token of a sequence: [..., T, D] → [..., D] (index 0 = a ViT's CLS)",
    arity: [1, 1],
    input: "one reference: tokens `[..., T, D]` (e.g. a `vit` with `output: tokens`).",
    schema: takeTokenSchema,
    create: createTakeToken,
  },
  ...hfTextEntries,
];
