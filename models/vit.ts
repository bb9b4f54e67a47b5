/**
 * Vision Transformer (Dosovitskiy et al., arXiv 2010.11929) as trained from
 * scratch by NOVA and CLIP recipes: non-overlapping patch embedding, a CLS
 * token, learned position embeddings, pre-LN blocks with biases, a final norm,
 * and the CLS token as the image embedding.
 *
 * Input `[..., H, W, C]` (leading axes such as views are kept), output `[..., D]`
 * (`output: cls`, the default) or every token `[..., T, D]` with `T = 1 + patches`,
 * CLS first, all after the final norm (`output: tokens`, read by ITO's fusion;
 * `take_token` then picks the CLS for the contrastive embedding).
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
  applyLayerNormWithSkip,
  applyLinear,
  applyMlp,
  createLayerNorm,
  createLinear,
  disposeParameters,
  type LayerNorm,
  type Linear,
  ParameterStore,
} from "./layers.ts";
import { selfAttention } from "../kernels/attention.ts";
import type { VitConfig } from "./vit_presets.ts";
import type { Tensor, Tensor3D, Tensor4D, Variable } from "../core/tensor.ts";
import { repeatLeading } from "../core/ops.ts";
import { bilinearResampleMatrix } from "./pos_resample.ts";
import { blockLayering } from "./block_layering.ts";

interface Block {
  norm1: LayerNorm;
  qkv: Linear;
  proj: Linear;
  norm2: LayerNorm;
  fc1: Linear;
  fc2: Linear;
}

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
  /** Layers for `layer_decay`: the patch embedding, CLS and positions 0, block `i` `i + 1`, the final norm on top. */
  readonly layering: Layering;
  readonly #patchEmbed: Linear;
  readonly #cls: Variable;
  readonly #pos: Variable;
  readonly #blocks: Block[] = [];
  readonly #norm: LayerNorm;
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
    const store = new ParameterStore(init.name, init.seed);
    const patchDim = patch * patch * geometry.channels;
    const tokens = (geometry.height / patch) * (geometry.width / patch) + 1;
    this.#output = init.output ?? "cls";
    const grid = [geometry.height / patch, geometry.width / patch] as const;
    this.#resample = (init.others ?? []).map(({ height, width }) => {
      const other = [height / patch, width / patch] as const;
      if (other[0] === grid[0] && other[1] === grid[1]) return null;
      const map = bilinearResampleMatrix(grid, other);
      return tf.keep(tf.tensor2d(map, [other[0] * other[1], grid[0] * grid[1]]));
    });
    this.#patchEmbed = createLinear(store, "patch_embed.proj", { inDim: patchDim, outDim: dim });
    this.#cls = store.add("cls_token", store.truncNormal([1, 1, dim], 0.02), false);
    this.#pos = store.add("pos_embed", store.truncNormal([1, tokens, dim], 0.02), false);
    for (let i = 0; i < depth; i++) {
      const p = `blocks.${i}`;
      this.#blocks.push({
        norm1: createLayerNorm(store, `${p}.norm1`, dim),
        qkv: createLinear(store, `${p}.attn.qkv`, { inDim: dim, outDim: 3 * dim }),
        proj: createLinear(store, `${p}.attn.proj`, { inDim: dim, outDim: dim }),
        norm2: createLayerNorm(store, `${p}.norm2`, dim),
        fc1: createLinear(store, `${p}.mlp.fc1`, { inDim: dim, outDim: dim * mlpRatio }),
        fc2: createLinear(store, `${p}.mlp.fc2`, { inDim: dim * mlpRatio, outDim: dim }),
      });
    }
    this.#norm = createLayerNorm(store, "norm", dim);
    this.parameters = store.parameters;
    this.layering = blockLayering(init.name, depth, ["patch_embed", "cls_token", "pos_embed"]);
  }

  /**
   * `[..., H, W, C]` → `[..., D]` (the final-normed CLS token) or `[..., T, D]`
   * (all tokens); several inputs (multi-crop, training only) → `[ΣVᵢ, B, D]`.
   */
  forward(inputs: NodeValue[], ctx: ForwardContext): Tensor {
    const images = inputs as Tensor[];
    if (images.length === 1 || !ctx.training) return this.#encode(images[0]!, 0);
    return tf.concat(images.map((x, i) => this.#encode(x, i)), 0);
  }

  /** One input through the encoder; `input` picks its position embeddings. */
  #encode(images: Tensor, input: number): Tensor {
    const lead = images.shape.slice(0, -3);
    const flat = images.reshape([-1, ...images.shape.slice(-3)]) as Tensor4D;
    let x = this.#embed(flat, input);
    for (const block of this.#blocks) x = this.#block(block, x);
    if (this.#output === "tokens") {
      return applyLayerNorm(this.#norm, x).reshape([...lead, x.shape[1], this.config.dim]);
    }
    const cls = tf.squeeze(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [1]);
    const out = applyLayerNorm(this.#norm, cls);
    return out.reshape([...lead, this.config.dim]);
  }

  /** Patchify `[N, H, W, C]` → tokens `[N, T, D]` with CLS and positions. */
  #embed(images: Tensor4D, input: number): Tensor3D {
    const [n, h, w, c] = images.shape;
    const p = this.config.patch;
    const gh = h / p, gw = w / p;
    const patches = images.reshape([n, gh, p, gw, p, c]).transpose([0, 1, 3, 2, 4, 5])
      .reshape([n, gh * gw, p * p * c]);
    const embedded = applyLinear(this.#patchEmbed, patches);
    const cls = repeatLeading(this.#cls.reshape([1, this.config.dim]), n); // [n, 1, D]
    return tf.add(tf.concat([cls, embedded], 1), this.#positions(input)) as Tensor3D;
  }

  /** Position embeddings `[1, T, D]` of input `input`'s grid (the CLS's kept as learned). */
  #positions(input: number): Tensor {
    const map = input === 0 ? null : this.#resample[input - 1];
    if (!map) return this.#pos;
    const { dim } = this.config;
    const grid = tf.slice(this.#pos, [0, 1, 0], [1, -1, -1]).reshape([-1, dim]);
    const resampled = tf.matMul(map, grid).reshape([1, -1, dim]);
    return tf.concat([tf.slice(this.#pos, [0, 0, 0], [1, 1, -1]), resampled], 1);
  }

  /**
   * One pre-LN block: `x + attn(LN(x))`, then `x + mlp(LN(x))`; each skip
   * connection is added by the branch's last linear layer (in its matmul
   * epilogue on WebGPU).
   */
  #block(block: Block, x: Tensor3D): Tensor3D {
    const [normed1, skip1] = applyLayerNormWithSkip(block.norm1, x);
    const attended = this.#attention(block, normed1, skip1);
    const activation = this.config.activation ?? "gelu";
    const [normed2, skip2] = applyLayerNormWithSkip(block.norm2, attended);
    return applyMlp(block.fc1, block.fc2, normed2, activation, skip2) as Tensor3D;
  }

  /**
   * Multi-head self-attention softmax(QKᵀ/√d)V over `[N, T, D]`: the fused
   * QKV projection, attention on the backend's fastest path
   * (`kernels/attention.ts`: fused WebGPU kernels, WASM kernels or the op
   * composition), then the output projection plus `skip`.
   */
  #attention(block: Block, x: Tensor, skip: Tensor): Tensor {
    const context = selfAttention(applyLinear(block.qkv, x), this.config.heads);
    return applyLinear(block.proj, context, undefined, skip);
  }

  /** Releases all variables (and the resampling maps). */
  dispose(): void {
    disposeParameters(this.parameters);
    for (const map of this.#resample) map?.dispose();
  }
}
