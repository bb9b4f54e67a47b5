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
  mlp_ratio: positiveInt().optional().describe(
    "MLP hidden width as a multiple of D (default: the preset's).",
  ),
  output: z.enum(["cls", "tokens"]).default("cls").describe(
    "`cls`: the CLS embedding `[..., D]`; `tokens`: every token `[..., T, D]`, CLS first.",
  ),
});

const createVit: ModuleFactory = (params: z.infer<typeof vitSchema>, ctx) => {
  const base = VIT_PRESETS[params.preset]!;
  const config = {
    patch: params.patch ?? base.patch,
    dim: params.dim ?? base.dim,
    depth: params.depth ?? base.depth,
    heads: params.heads ?? base.heads,
    mlpRatio: params.mlp_ratio ?? base.mlpRatio,
  };
  const shape = ctx.inputShapes[0] ?? [];
  if (shape.length < 3) {
    throw new Error(
      `node "${ctx.name}" (vit) expects images [..., H, W, C], got [${shape.join(", ")}]`,
    );
  }
  const [height, width, channels] = shape.slice(-3) as [number, number, number];
  if (height % config.patch !== 0 || width % config.patch !== 0) {
    throw new Error(
      `node "${ctx.name}" (vit): image ${height}×${width} is not divisible by patch ${config.patch}; ` +
        `choose a patch that divides both sides`,
    );
  }
  if (config.dim % config.heads !== 0) {
    throw new Error(
      `node "${ctx.name}" (vit): dim ${config.dim} is not divisible by heads ${config.heads}`,
    );
  }
  return new VisionTransformer(config, { height, width, channels }, {
    name: ctx.name,
    seed: ctx.seed,
    output: params.output,
  });
};

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
  clamp: z.tuple([num(), num()]).default([0, Math.log(100)]).describe(
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
    input: "one reference: images `[..., H, W, C]` (`batch.image`, or a `views` node).",
    schema: vitSchema,
    create: createVit,
  },
  {
    kind: "mlp",
    summary: "MLP projector/predictor over the last axis: [..., Din] → [..., layers[-1]]",
    input: "one reference: any `[..., D]` (leading axes, such as views, are kept).",
    schema: mlpSchema,
    create: (params: z.infer<typeof mlpSchema>, ctx) =>
      new Mlp({ inDim: lastDim(ctx, "an input [..., D]"), ...params }, ctx),
  },
  {
    kind: "logit_scale",
    summary: "learnable log-space temperature θ (scale = exp θ), clamped after each step",
    input: "none (leave `input` out); outputs the scalar θ.",
    schema: logitScaleSchema,
    create: (params: z.infer<typeof logitScaleSchema>, ctx) => new LogitScale(params, ctx),
  },
  {
    kind: "l2norm",
    summary: "L2-normalise the last axis: [..., D] → [..., D]",
    input: "one reference: any `[..., D]`.",
    schema: z.strictObject({}),
    create: () => new L2Normalize(),
  },
];
