/**
 * Registry entries of the model room: `vit`, `mlp`, `logit_scale`, `l2norm`
 * ({@link modelEntries}), and the modules of issue 4 ({@link issue4ModuleEntries}):
 * `fusion` (ITO), `prototypes` (nCLIP), `text_transformer`, `take_token`, `hf_text`.
 *
 * @module
 */
import { z } from "zod";
import type { ModuleFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { num, positiveInt } from "../core/schema.ts";
import type { BuildContext, Shape } from "../core/types.ts";
import { Mlp } from "./mlp.ts";
import { L2Normalize, LogitScale } from "./simple.ts";
import { VisionTransformer } from "./vit.ts";
import { VIT_PRESETS } from "./vit_presets.ts";
import { blockCheckpointing, checkpointParam } from "./checkpoint_schema.ts";
export { issue4ModuleEntries } from "./entries_issue4.ts";

function lastDim(ctx: BuildContext, expected: string): number {
  const shape: Shape = ctx.inputShapes[0] ?? [];
  const dim = shape.at(-1);
  if (shape.length < 1 || dim === undefined || dim < 1) {
    throw new Error(
      `node "${ctx.name}" expects ${expected}, got input shape [${shape.join(", ")}]`,
    );
  }
  return dim;
}

/** A share or probability in [0, 1). */
function dropRate(what: string) {
  return num().pipe(z.number().min(0).lt(1, `expected < 1 (${what})`));
}

const vitSchema = z.strictObject({
  preset: z.enum(Object.keys(VIT_PRESETS) as [string, ...string[]]).default("tiny").describe(
    "Size preset: `tiny` (patch 7, D 64, depth 4, 4 heads, MLP ×2; MNIST on a CPU), `ti`, `s`, " +
      "`b` (ViT-Ti/S/B, 16 px patches); the keys below override it.",
  ),
  patch: positiveInt().optional().describe(
    "Side of a square patch in pixels (default: the preset's); must divide the image sides.",
  ),
  dim: positiveInt().optional().describe(
    "Embedding width D (default: the preset's); divisible by `heads`.",
  ),
  depth: positiveInt().optional().describe("Number of transformer blocks (default: the preset's)."),
  heads: positiveInt().optional().describe("Attention heads (default: the preset's)."),
  mlp_ratio: num().pipe(z.number().positive("expected > 0")).optional().describe(
    "MLP hidden width as a multiple of D, rounded down as timm's `int(D · mlp_ratio)` " +
      "(default: the preset's; SigLIP So400m: 3.7362 → 4304 at D 1152).",
  ),
  output: z.enum(["cls", "tokens"]).default("cls").describe(
    "`cls`: the image embedding `[..., D]` (see `pool`); `tokens`: the CLS and patch tokens " +
      "`[..., T, D]`, CLS first (registers dropped; with `class_token: false` the patches " +
      "alone, so nothing for `take_token` or ITO's fusion to read as a CLS).",
  ),
  pool: z.enum(["cls", "avg", "map"]).default("cls").describe(
    "The image embedding: the CLS token after the final `norm`, the patch tokens' mean " +
      "after `fc_norm` (timm's `global_pool: avg`; `output: tokens` then gives them unnormed), " +
      "or `map`: the patch tokens after `norm` attention-pooled by a learned latent query, then " +
      "a pre-LN MLP (SigLIP's head, timm's `global_pool: map`, parameters `attn_pool.*`).",
  ),
  layer_scale: num().pipe(z.number().positive()).optional().describe(
    "LayerScale (CaiT, DeiT III, DINOv2: 1e-5): each block's branches are scaled by a learned " +
      "`γ` `[D]` starting at this value (`ls1.gamma`, `ls2.gamma`).",
  ),
  registers: z.number().int().min(0).default(0).describe(
    "Register tokens after the CLS (Darcet et al., 2023; DINOv2 `reg4`: 4): extra learned " +
      "tokens the blocks may use as scratch space, dropped at the output.",
  ),
  prefix_positions: z.boolean().default(true).describe(
    "Whether the CLS and register tokens get learned positions; false: only the patches " +
      "(timm's `no_embed_class`: DeiT III, DINOv2 with registers).",
  ),
  activation: z.enum(["gelu", "quick_gelu", "gelu_tanh", "relu"]).default("gelu").describe(
    "The block MLPs' (and `pool: map`'s) activation: exact GELU (timm's), `quick_gelu` " +
      "(`x·σ(1.702x)`, OpenAI's CLIP towers), `gelu_tanh` (GELU's tanh approximation: SigLIP), " +
      "or ReLU.",
  ),
  mlp: z.enum(["mlp", "swiglu"]).optional().describe(
    "The blocks' MLP: `fc1`, the activation, `fc2` (timm's `Mlp`), or `swiglu` (timm's " +
      "`SwiGLUPacked`, DINOv2-g's): `fc1` to `⌊D · mlp_ratio⌋`, its halves `a | b`, " +
      "`silu(a) · b`, then `fc2` from half that width (`activation` is then unused; absent: " +
      "`mlp`).",
  ),
  norm_eps: num().pipe(z.number().positive()).default(1e-6).describe(
    "The LayerNorms' variance epsilon: timm's 1e-6, or PyTorch's 1e-5 (CLIP image towers).",
  ),
  class_token: z.boolean().default(true).describe(
    "Whether there is a CLS token; false (timm's `class_token=False`: its `_gap` models, " +
      "SigLIP) needs `pool: avg` or `map`, and `output: tokens` then gives the patches only.",
  ),
  norm_pre: z.boolean().default(false).describe(
    "A LayerNorm (`norm_pre`) on the tokens before the blocks (timm's `pre_norm`: CLIP image " +
      "towers).",
  ),
  checkpoint: checkpointParam("its input"),
  patch_dropout: z.union([
    dropRate("a share dropped"),
    z.strictObject({
      rate: dropRate("a share dropped").describe("The share of patches dropped."),
      until: positiveInt().describe(
        "The first step (0-based) trained on every patch: FLIP's unmasked tuning from there.",
      ),
    }),
  ]).optional().describe(
    "Patch dropout (FLIP, open_clip's and timm's `patch_dropout`): in training each image " +
      "keeps a random `max(1, ⌊L · (1 − p)⌋)` of its `L` patch tokens (CLS and registers " +
      "always), after the positions, so the blocks run on fewer tokens; evaluation and a " +
      "momentum teacher see every patch. FLIP: 0.5 or 0.75; `{ rate, until: N }` drops for " +
      "steps 0 … N−1 only (FLIP's unmasked tuning after). Not with `output: tokens` (absent: 0).",
  ),
  drop_path: dropRate("a probability").optional()
    .describe(
      "Stochastic depth (timm's `drop_path_rate`; DeiT 0.1, DINO's student 0.1): in training " +
        "each block's attention and MLP branches are dropped per sample with probability " +
        "`p · i/(depth − 1)` at block `i` and scaled by `1/(1 − p_i)` otherwise; evaluation " +
        "and a momentum teacher run every branch (absent: 0).",
    ),
});

/** The config fields of a `patch_dropout` setting (none for absent or 0). */
function patchDropoutConfig(
  setting: number | { rate: number; until: number } | undefined,
): { patchDropout?: number; patchDropoutUntil?: number } {
  const { rate, until } = typeof setting === "number" || setting === undefined
    ? { rate: setting ?? 0, until: undefined }
    : setting;
  if (rate === 0) return {};
  return until === undefined
    ? { patchDropout: rate }
    : { patchDropout: rate, patchDropoutUntil: until };
}

const createVit: ModuleFactory = (params: z.infer<typeof vitSchema>, ctx) => {
  const base = VIT_PRESETS[params.preset]!;
  const config = {
    patch: params.patch ?? base.patch,
    dim: params.dim ?? base.dim,
    depth: params.depth ?? base.depth,
    heads: params.heads ?? base.heads,
    mlpRatio: params.mlp_ratio ?? base.mlpRatio,
    // Each option only when it departs from the default (a factory may be handed params
    // without the schema's defaults filled in: absent means default).
    ...(params.layer_scale !== undefined && { layerScale: params.layer_scale }),
    ...((params.registers ?? 0) > 0 && { registers: params.registers }),
    ...(params.prefix_positions === false && { prefixPositions: false }),
    ...(params.pool !== undefined && params.pool !== "cls" && { pool: params.pool }),
    ...(params.norm_pre === true && { normPre: true }),
    ...(params.class_token === false && { classToken: false }),
    ...(params.activation !== undefined && params.activation !== "gelu" &&
      { activation: params.activation }),
    ...(params.norm_eps !== undefined && params.norm_eps !== 1e-6 && { normEps: params.norm_eps }),
    ...(params.mlp === "swiglu" && { mlp: "swiglu" as const }),
    ...patchDropoutConfig(params.patch_dropout),
    ...((params.drop_path ?? 0) > 0 && { dropPath: params.drop_path }),
  };
  const checkpoint = blockCheckpointing(params.checkpoint, config.depth, ctx.name);
  const sizes = vitInputSizes(ctx, config.patch);
  if (config.dim % config.heads !== 0) {
    throw new Error(
      `node "${ctx.name}" (vit): dim ${config.dim} is not divisible by heads ${config.heads}`,
    );
  }
  const [first, ...others] = sizes;
  if (others.length > 0 && params.output === "tokens") {
    const grid = (s: { height: number; width: number }) => `${s.height}×${s.width}`;
    if (others.some((o) => grid(o) !== grid(first!))) {
      throw new Error(
        `node "${ctx.name}" (vit): output: tokens needs every input at one size (token counts ` +
          `differ), got ${sizes.map(grid).join(", ")}; use output: cls for multi-crop`,
      );
    }
  }
  return new VisionTransformer({ ...config, ...(checkpoint && { checkpoint }) }, first!, {
    name: ctx.name,
    seed: ctx.seed,
    output: params.output,
    others,
  });
};

/**
 * The image sizes of a `vit` node's inputs, checked: `[..., H, W, C]` with
 * sides divisible by the patch; several inputs (multi-crop) must each be
 * views `[V, B, H, W, C]` with the same channels.
 */
function vitInputSizes(
  ctx: BuildContext,
  patch: number,
): { height: number; width: number; channels: number }[] {
  if (ctx.inputShapes.length === 0) {
    throw new Error(`node "${ctx.name}" (vit) expects images [..., H, W, C]; give it an input`);
  }
  const many = ctx.inputShapes.length > 1;
  return ctx.inputShapes.map((shape, i) => {
    const which = many ? ` input ${i + 1}` : "";
    if (shape.length < 3 || (many && shape.length !== 5)) {
      throw new Error(
        `node "${ctx.name}" (vit)${which} expects images ${
          many ? "[V, B, H, W, C] (a views node: multi-crop)" : "[..., H, W, C]"
        }, got [${shape.join(", ")}]`,
      );
    }
    const [height, width, channels] = shape.slice(-3) as [number, number, number];
    if (height % patch !== 0 || width % patch !== 0) {
      throw new Error(
        `node "${ctx.name}" (vit)${which}: image ${height}×${width} is not divisible by patch ` +
          `${patch}; choose a patch that divides both sides`,
      );
    }
    const firstChannels = ctx.inputShapes[0]!.at(-1);
    if (channels !== firstChannels) {
      throw new Error(
        `node "${ctx.name}" (vit)${which}: ${channels} channels, but input 1 has ${firstChannels}`,
      );
    }
    return { height, width, channels };
  });
}

const mlpSchema = z.strictObject({
  layers: z.array(positiveInt()).min(1).describe(
    "Output width of each linear layer; the last one is the output width.",
  ),
  activation: z.enum(["gelu", "relu", "tanh", "identity"]).default("gelu").describe(
    "Activation between layers.",
  ),
  norm: z.enum(["none", "layer", "batch"]).default("none").describe(
    "Normalisation after each hidden linear layer.",
  ),
  bias: z.boolean().default(true).describe("Bias on every linear layer."),
});

const logitScaleSchema = z.strictObject({
  init: num().default(Math.log(1 / 0.07)).describe(
    "Initial θ (default ln(1 / 0.07), CLIP's); the scale is exp θ.",
  ),
  clamp: z.tuple([num(), num()]).refine(([lo, hi]) => lo <= hi, {
    message: "expected [min, max] with min ≤ max",
  }).default([0, Math.log(100)]).describe(
    "`[min, max]` θ is clamped to after every optimiser step (default `[0, ln 100]`).",
  ),
  learnable: z.boolean().default(true).describe("Train θ (false: a fixed value)."),
});

/** Module entries provided by `models/`. */
export const modelEntries: RegistryEntry<ModuleFactory>[] = [
  {
    kind: "vit",
    summary: "Vision Transformer from scratch: [..., H, W, C] → CLS embedding [..., D] " +
      "(output: tokens → [..., T, D])",
    arity: [1, Infinity],
    input: "one reference: images `[..., H, W, C]` (`batch.image`, or a `views` node); or " +
      "several `views` nodes `[Vᵢ, B, Hᵢ, Wᵢ, C]` (multi-crop: global first; output " +
      "`[ΣVᵢ, B, D]` in training, the first input alone at inference).",
    schema: vitSchema,
    create: createVit,
  },
  {
    kind: "mlp",
    summary: "MLP projector/predictor over the last axis: [..., Din] → [..., layers[-1]]",
    arity: [1, 1],
    input: "one reference: any `[..., D]` (leading axes, such as views, are kept).",
    schema: mlpSchema,
    create: (params: z.infer<typeof mlpSchema>, ctx) =>
      new Mlp({ inDim: lastDim(ctx, "an input [..., D]"), ...params }, ctx),
  },
  {
    kind: "logit_scale",
    summary: "learnable log-space temperature θ (scale = exp θ), clamped after each step",
    arity: [0, 0],
    input: "none (leave `input` out); outputs the scalar θ.",
    schema: logitScaleSchema,
    create: (params: z.infer<typeof logitScaleSchema>, ctx) => new LogitScale(params, ctx),
  },
  {
    kind: "l2norm",
    summary: "L2-normalise the last axis: [..., D] → [..., D]",
    arity: [1, 1],
    input: "one reference: any `[..., D]`.",
    schema: z.strictObject({}),
    create: () => new L2Normalize(),
  },
];
