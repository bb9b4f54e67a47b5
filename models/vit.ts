/**
 * Vision Transformer (Dosovitskiy et al., arXiv 2010.11929) as trained from
 * scratch by NOVA and CLIP recipes: non-overlapping patch embedding, a CLS
 * token, learned position embeddings, pre-LN blocks with biases, a final norm,
 * and the CLS token as the image embedding. timm's options for the ViTs it
 * ships (so their weights load, and so they can be ablated): LayerScale
 * (`ls1.gamma`, `ls2.gamma`), register tokens (`reg_token`, dropped at the
 * output), positions for the patches only (`no_embed_class`), a `norm_pre`
 * before the blocks, the patch tokens' mean after `fc_norm` (`pool: avg`)
 * instead of the CLS after `norm`, or SigLIP's attention pooling of every
 * token after `norm` (`pool: map`, `models/attention_pool.ts`).
 *
 * Input `[..., H, W, C]` (leading axes such as views are kept), output `[..., D]`
 * (`output: cls`, the default) or every token `[..., T, D]` with `T = 1 + patches`,
 * CLS first, all after the final norm (`output: tokens`, read by ITO's fusion;
 * `take_token` then picks the CLS for the contrastive embedding). Registers are
 * not among them; without a class token the tokens are the patches alone
 * (`T = patches`: no CLS for `take_token` or the fusion to read).
 *
 * **Multi-crop**: several inputs `[Vᵢ, B, Hᵢ, Wᵢ, C]` (global views first, then
 * local ones at another size) go through the same weights and come out
 * concatenated along the view axis, `[ΣVᵢ, B, D]`. The position embeddings are
 * learned for the first input's grid and resampled bilinearly for the others
 * (`models/pos_resample.ts`). At inference only the first input is encoded:
 * every `views` node then gives the whole image, and evaluation reads view 0.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Layering, Module, NodeValue, Parameter } from "../core/types.ts";
import {
  applyLayerNorm,
  applyLinear,
  createLayerNorm,
  createLinear,
  disposeParameters,
  type LayerNorm,
  type Linear,
  ParameterStore,
} from "./layers.ts";
import { applyVitBlock, createVitBlock, type VitBlock } from "./vit_block.ts";
import { dropPatches } from "./patch_dropout.ts";
import { dropPathMask, dropPathRates } from "./drop_path.ts";
import type { VitConfig } from "./vit_presets.ts";
import type { Tensor, Tensor3D, Tensor4D, Variable } from "../core/tensor.ts";
import { repeatLeading } from "../core/ops.ts";
import { bilinearResampleMatrix } from "./pos_resample.ts";
import { blockLayering } from "./block_layering.ts";
import { checkpointed, checkpointsBlock } from "./checkpoint.ts";
import { AttentionPool } from "./attention_pool.ts";

/** Geometry of the images a ViT is built for. */
export interface ImageGeometry {
  /** Image height in pixels (a multiple of the patch size). */
  height: number;
  /** Image width in pixels (a multiple of the patch size). */
  width: number;
  /** Channels. */
  channels: number;
}

/** What a ViT outputs: the CLS embedding `[..., D]` or all tokens `[..., T, D]`. */
export type VitOutput = "cls" | "tokens";

/** A ViT module. Parameter names follow timm (`blocks.0.attn.qkv.weight`, …). */
export class VisionTransformer implements Module {
  /** Trainable parameters. */
  readonly parameters: Parameter[];
  /** Layers for `layer_decay`: the patch embedding, CLS and positions 0, block `i` `i + 1`, the final norm (and `attn_pool`) on top. */
  readonly layering: Layering;
  readonly #patchEmbed: Linear;
  readonly #cls: Variable | undefined;
  readonly #registers: Variable | undefined;
  readonly #pos: Variable;
  readonly #normPre: LayerNorm | undefined;
  readonly #blocks: VitBlock[] = [];
  /** `norm` on all tokens (`pool: cls`, `map`), or `fc_norm` on their mean (`pool: avg`). */
  readonly #norm: LayerNorm;
  /** SigLIP's attention pooling head (`pool: map`). */
  readonly #pool: AttentionPool | undefined;
  readonly #output: VitOutput;
  /** Per further input: the `[patches, patches₀]` map of its grid (`null`: the same grid). */
  readonly #resample: (Tensor | null)[];

  /**
   * Builds the parameters under the name prefix `name`; `output` defaults to
   * `cls`; `others` are the image sizes of further inputs (multi-crop).
   */
  constructor(
    readonly config: VitConfig,
    readonly geometry: ImageGeometry,
    init: {
      name: string;
      seed: number;
      output?: VitOutput;
      others?: { height: number; width: number }[];
    },
  ) {
    const { patch, dim, depth, mlpRatio } = config;
    if (config.classToken === false && (config.pool ?? "cls") === "cls") {
      throw new Error(
        `node "${init.name}" (vit): class_token: false leaves no CLS to pool; use pool: avg ` +
          "or pool: map",
      );
    }
    if (config.patchDropout && init.output === "tokens") {
      throw new Error(
        `node "${init.name}" (vit): patch_dropout ${config.patchDropout} with output: tokens ` +
          "would give training and inference different token counts; use output: cls (or pool: " +
          "avg / map), or leave patch_dropout out",
      );
    }
    const eps = config.normEps ?? 1e-6;
    const hidden = Math.floor(dim * mlpRatio); // timm's int(embed_dim * mlp_ratio)
    const swiglu = config.mlp === "swiglu";
    if (hidden < 1 || (swiglu && hidden % 2 !== 0)) {
      throw new Error(
        `node "${init.name}" (vit): mlp_ratio ${mlpRatio} × dim ${dim} gives an MLP width of ` +
          `${hidden}; expected ${swiglu ? "an even width (mlp: swiglu halves it)" : "at least 1"}`,
      );
    }
    const store = new ParameterStore(init.name, init.seed);
    const patchDim = patch * patch * geometry.channels;
    const positions = (geometry.height / patch) * (geometry.width / patch) + this.positionPrefix;
    this.#output = init.output ?? "cls";
    const grid = [geometry.height / patch, geometry.width / patch] as const;
    this.#resample = (init.others ?? []).map(({ height, width }) => {
      const other = [height / patch, width / patch] as const;
      if (other[0] === grid[0] && other[1] === grid[1]) return null;
      const map = bilinearResampleMatrix(grid, other);
      return tf.keep(tf.tensor2d(map, [other[0] * other[1], grid[0] * grid[1]]));
    });
    this.#patchEmbed = createLinear(store, "patch_embed.proj", { inDim: patchDim, outDim: dim });
    this.#cls = config.classToken === false
      ? undefined
      : store.add("cls_token", store.truncNormal([1, 1, dim], 0.02), false);
    const registers = config.registers ?? 0;
    this.#registers = registers > 0
      ? store.add("reg_token", store.truncNormal([1, registers, dim], 1e-6), false)
      : undefined;
    this.#pos = store.add("pos_embed", store.truncNormal([1, positions, dim], 0.02), false);
    this.#normPre = config.normPre ? createLayerNorm(store, "norm_pre", dim, eps) : undefined;
    for (let i = 0; i < depth; i++) this.#blocks.push(createVitBlock(store, i, config, hidden));
    this.#norm = createLayerNorm(store, config.pool === "avg" ? "fc_norm" : "norm", dim, eps);
    this.#pool = config.pool === "map"
      ? new AttentionPool(store, "attn_pool", {
        dim,
        heads: config.heads,
        mlpRatio,
        activation: config.activation ?? "gelu",
        eps,
      })
      : undefined;
    this.parameters = store.parameters;
    this.layering = blockLayering(init.name, depth, [
      "patch_embed",
      "cls_token",
      "reg_token",
      "pos_embed",
      "norm_pre",
    ]);
  }

  /** Where patch dropout ends (`patchDropoutUntil`): a new training phase starts there. */
  get changesAt(): readonly number[] {
    const until = this.config.patchDropoutUntil;
    return this.config.patchDropout && until !== undefined ? [until] : [];
  }

  /** Tokens before the patches: the CLS (unless `classToken` is false), then the registers. */
  get prefixTokens(): number {
    return (this.config.classToken === false ? 0 : 1) + (this.config.registers ?? 0);
  }

  /** Entries of `pos_embed` before the patch grid: the prefix tokens', or none (`no_embed_class`). */
  get positionPrefix(): number {
    return this.config.prefixPositions === false ? 0 : this.prefixTokens;
  }

  /**
   * `[..., H, W, C]` → `[..., D]` (the final-normed CLS token) or `[..., T, D]`
   * (all tokens); several inputs (multi-crop, training only) → `[ΣVᵢ, B, D]`.
   */
  forward(inputs: NodeValue[], ctx: ForwardContext): Tensor {
    const images = inputs as Tensor[];
    if (images.length === 1 || !ctx.training) return this.#encode(images[0]!, 0, ctx);
    return tf.concat(images.map((x, i) => this.#encode(x, i, ctx)), 0);
  }

  /**
   * One input through the encoder; `input` picks its position embeddings and
   * its draws of patch dropout and stochastic depth (a training step's
   * student only: a momentum teacher sees every patch and every branch).
   */
  #encode(images: Tensor, input: number, ctx: ForwardContext): Tensor {
    const lead = images.shape.slice(0, -3);
    const flat = images.reshape([-1, ...images.shape.slice(-3)]) as Tensor4D;
    const noisy = ctx.training && ctx.teacher !== true;
    let x = this.#embed(flat, input);
    const { patchDropout, patchDropoutUntil: until, dropPath } = this.config;
    // timm's order: positions, patch dropout (before its `until`), `norm_pre`.
    if (noisy && patchDropout && (until === undefined || (ctx.phase ?? 0) < until)) {
      x = dropPatches(x, this.prefixTokens, patchDropout, ctx.seed, input);
    }
    if (this.#normPre) x = applyLayerNorm(this.#normPre, x) as Tensor3D;
    const rows = x.shape[0];
    const rates = noisy && dropPath ? dropPathRates(dropPath, this.#blocks.length) : [];
    // A scope per block: what the gradient tape does not keep (all of it off the tape: a frozen
    // tower, a teacher) is freed as each block ends, not when the whole forward pass does.
    // A checkpointed block (`checkpoint`: all, or the first N) keeps only its input (and its
    // stochastic-depth masks) for the backward pass and runs again there.
    this.#blocks.forEach((block, i) => {
      x = tf.tidy(() => {
        const p = rates[i] ?? 0;
        const masks = p > 0
          ? [0, 1].map((branch) => dropPathMask(rows, p, ctx.seed, i, branch as 0 | 1, input))
          : [];
        const run = (h: Tensor, ...m: Tensor[]) =>
          applyVitBlock(block, h as Tensor3D, this.config, m);
        return checkpointsBlock(this.config.checkpoint, i)
          ? checkpointed(run, x, block.variables, masks) as Tensor3D
          : run(x, ...masks);
      });
    });
    const { dim } = this.config, prefix = this.prefixTokens;
    const avg = this.config.pool === "avg";
    if (this.#output === "tokens") {
      // The CLS and the patches (registers dropped), after `norm` (timm's forward_features).
      const cls = this.#cls ? 1 : 0;
      const kept = prefix === cls ? x : tf.concat([
        ...(cls ? [tf.slice(x, [0, 0, 0], [-1, 1, -1])] : []),
        tf.slice(x, [0, prefix, 0], [-1, -1, -1]),
      ], 1);
      const tokens = avg ? kept : applyLayerNorm(this.#norm, kept);
      return tokens.reshape([...lead, kept.shape[1]!, dim]);
    }
    // timm's forward_head (≥ 1.0.16, pool_include_prefix=False): the latent query attends over
    // the patch tokens after `norm`, the CLS and registers dropped.
    if (this.#pool) {
      const patches = tf.slice(applyLayerNorm(this.#norm, x), [0, prefix, 0], [-1, -1, -1]);
      return this.#pool.apply(patches as Tensor3D).reshape([...lead, dim]);
    }
    const pooled = avg
      ? tf.mean(tf.slice(x, [0, prefix, 0], [-1, -1, -1]), 1)
      : tf.squeeze(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [1]);
    return applyLayerNorm(this.#norm, pooled).reshape([...lead, dim]);
  }

  /**
   * Patchify `[N, H, W, C]` → tokens `[N, T, D]`: CLS, registers, patches,
   * with positions (`norm_pre` comes after patch dropout, in `#encode`).
   */
  #embed(images: Tensor4D, input: number): Tensor3D {
    const [n, h, w, c] = images.shape;
    const p = this.config.patch;
    const gh = h / p, gw = w / p;
    const patches = images.reshape([n, gh, p, gw, p, c]).transpose([0, 1, 3, 2, 4, 5])
      .reshape([n, gh * gw, p * p * c]);
    let embedded = applyLinear(this.#patchEmbed, patches);
    const { dim } = this.config;
    const prefix = this.#cls ? [repeatLeading(this.#cls.reshape([1, dim]), n)] : []; // [n, 1, D]
    if (this.#registers) {
      const registers = this.#registers.shape[1]!;
      prefix.push(repeatLeading(this.#registers.reshape([registers, dim]), n));
    }
    const positions = this.#positions(input);
    let x: Tensor;
    if (this.positionPrefix === 0) {
      embedded = tf.add(embedded, positions);
      x = tf.concat([...prefix, embedded], 1);
    } else {
      x = tf.add(tf.concat([...prefix, embedded], 1), positions);
    }
    return x as Tensor3D;
  }

  /** Position embeddings of input `input`'s grid (the prefix tokens' kept as learned). */
  #positions(input: number): Tensor {
    const map = input === 0 ? null : this.#resample[input - 1];
    if (!map) return this.#pos;
    const { dim } = this.config, prefix = this.positionPrefix;
    const grid = tf.slice(this.#pos, [0, prefix, 0], [1, -1, -1]).reshape([-1, dim]);
    const resampled = tf.matMul(map, grid).reshape([1, -1, dim]);
    if (prefix === 0) return resampled;
    return tf.concat([tf.slice(this.#pos, [0, 0, 0], [1, prefix, -1]), resampled], 1);
  }

  /** Releases all variables (and the resampling maps). */
  dispose(): void {
    disposeParameters(this.parameters);
    for (const map of this.#resample) map?.dispose();
  }
}
