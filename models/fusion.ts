/**
 * ITO's training-time fusion transformer (arXiv 2603.02767, DESIGN §5): image
 * tokens (CLS + patches) and text tokens are projected to a common width `W`,
 * concatenated `[image tokens; text tokens]`, run through `layers` pre-LN
 * transformer blocks (`heads` heads, MLP ratio `mlpRatio`) in which padded text
 * tokens are masked as keys (additive −1e9 on their logits), and read out at
 * the image CLS position (final LayerNorm, then L2 normalisation) → `S_v`.
 *
 * Inputs, in recipe order:
 * 1. image tokens `[V, B, T, Di]` (views first) or `[B, T, Di]`, CLS at token 0
 *    (a `vit` node with `output: tokens`);
 * 2. packed text tokens `[B, L, Dt + 1]`, the last channel being the padding
 *    mask (see `models/tokens.ts`; `frozen_text` or `text_transformer` with
 *    `output: tokens`). Each view is fused with the same caption.
 *
 * Output: `[V, B, W]` (or `[B, W]`), unit rows. The two projections have
 * biases, which act as learned modality embeddings; image tokens keep the
 * ViT's position embeddings, text tokens carry whatever the text tower gives.
 * Recipes declare the node `phase: train`: the inference graph drops it with
 * all its parameters. Parameters: `image_proj`, `text_proj`, `blocks.<i>.*`, `norm`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Module, NodeValue, Parameter, Shape } from "../core/types.ts";
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
import { l2Normalize } from "./simple.ts";
import { unpackTextTokens } from "./tokens.ts";
import { applyBlock, createBlock, keyPaddingBias, type TransformerBlock } from "./transformer.ts";
import type { Tensor } from "../core/tensor.ts";
import { repeatLeading } from "../core/ops.ts";

/** Architecture of a {@link FusionTransformer}. */
export interface FusionOptions {
  /** Width `Di` of the image tokens. */
  imageDim: number;
  /** Width `Dt` of the text token features (without the mask channel). */
  textDim: number;
  /** Fusion width `W` (ITO: 512). */
  width: number;
  /** Number of pre-LN blocks (ITO: 2). */
  layers: number;
  /** Attention heads; `W` must be divisible by it (ITO: 8). */
  heads: number;
  /** MLP hidden width as a multiple of `W` (ITO: 4). */
  mlpRatio: number;
}

/** The fusion module: `[V, B, T, Di]` image tokens + `[B, L, Dt + 1]` text → `[V, B, W]`. */
export class FusionTransformer implements Module {
  /** Trainable parameters. */
  readonly parameters: Parameter[];
  readonly #imageProj: Linear;
  readonly #textProj: Linear;
  readonly #blocks: TransformerBlock[] = [];
  readonly #norm: LayerNorm;

  /** Builds the parameters under the prefix `init.name`. */
  constructor(readonly options: FusionOptions, init: { name: string; seed: number }) {
    const { imageDim, textDim, width, layers, mlpRatio } = options;
    const store = new ParameterStore(init.name, init.seed);
    this.#imageProj = createLinear(store, "image_proj", { inDim: imageDim, outDim: width });
    this.#textProj = createLinear(store, "text_proj", { inDim: textDim, outDim: width });
    for (let index = 0; index < layers; index++) {
      this.#blocks.push(createBlock(store, { index, dim: width, mlpRatio }));
    }
    this.#norm = createLayerNorm(store, "norm", width);
    this.parameters = store.parameters;
  }

  /** Image tokens and packed text tokens → fused, L2-normalised CLS read-out. */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    const image = inputs[0] as Tensor;
    const { features, mask } = unpackTextTokens(inputs[1] as Tensor);
    const [b, l] = mask.shape as [number, number];
    const [t, di] = image.shape.slice(-2) as [number, number];
    const tokens = image.reshape([-1, t, di]);
    const n = tokens.shape[0]!;
    if (n % b !== 0 || image.shape.at(-3) !== b) {
      throw new Error(
        `fusion: image tokens [${image.shape.join(", ")}] and text tokens ` +
          `[${features.shape.join(", ")}] disagree on the batch size; expected the same B`,
      );
    }
    const repeat = (x: Tensor): Tensor =>
      n === b ? x : repeatLeading(x, n / b).reshape([n, ...x.shape.slice(1)]);
    const text = applyLinear(this.#textProj, repeat(features));
    let x = tf.concat([applyLinear(this.#imageProj, tokens), text], 1); // [N, T + L, W]
    const keys = tf.concat([tf.ones([n, t]), repeat(mask).reshape([n, l])], 1);
    const keyBias = keyPaddingBias(keys);
    // A scope per block: what the gradient tape does not keep is freed as each block ends.
    for (const block of this.#blocks) {
      x = tf.tidy(() => applyBlock(block, x, { heads: this.options.heads, keyBias }));
    }
    const cls = tf.squeeze(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [1]);
    const out = l2Normalize(applyLayerNorm(this.#norm, cls));
    return out.reshape([...image.shape.slice(0, -2), this.options.width]);
  }

  /** Releases all variables. */
  dispose(): void {
    disposeParameters(this.parameters);
  }
}

/**
 * Checks the input shapes of a fusion node and returns `Di` and `Dt`.
 *
 * @param shapes Input shapes in recipe order (batch axes may be `-1`).
 * @param name Node name, for messages.
 */
export function fusionInputDims(
  shapes: Shape[],
  name: string,
): { imageDim: number; textDim: number } {
  const [image, text] = shapes;
  const show = (s: Shape | undefined) => (s ? `[${s.join(", ")}]` : "nothing");
  if (shapes.length !== 2 || !image || !text) {
    throw new Error(
      `node "${name}" (fusion) expects 2 inputs [image_tokens, text_tokens], got ${shapes.length}; ` +
        `wire a vit with output: tokens and a text tower with output: tokens`,
    );
  }
  if (image.length !== 3 && image.length !== 4) {
    throw new Error(
      `node "${name}" (fusion): image tokens must be [V, B, T, Di] or [B, T, Di], got ${
        show(image)
      }; use a vit node with output: tokens`,
    );
  }
  if (text.length !== 3 || text[2]! < 2) {
    throw new Error(
      `node "${name}" (fusion): text tokens must be packed [B, L, Dt + 1] (last channel = ` +
        `padding mask), got ${show(text)}; use frozen_text or text_transformer with output: tokens`,
    );
  }
  return { imageDim: image.at(-1)!, textDim: text[2]! - 1 };
}
