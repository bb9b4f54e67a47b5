/**
 * A text transformer trained from scratch (CLIP's text tower, Radford et al.,
 * arXiv 2103.00020, at recipe-chosen size): captions (strings) are tokenised by
 * cl100k BPE and folded into a `vocab`-row table ({@link SubwordTokenizer}),
 * embedded (token + learned position embeddings), run through `depth` pre-LN
 * blocks, causal (each token attends to itself and earlier tokens, as CLIP) or
 * bidirectional, with padding always masked as keys, then a final LayerNorm.
 *
 * Output (`output: pooled`, default) `[B, D]` by `pooling`:
 * - `eot`: the state at the `EOT` token (CLIP's choice; under causal attention
 *   the only position that has seen the whole text);
 * - `cls`: the state at position 0 (`SOT`; only meaningful bidirectionally, so
 *   `cls` with `causal: true` is rejected);
 * - `mean`: the mean over real tokens (`SOT`, text, `EOT`).
 *
 * `output: tokens` returns every final-normed state as packed text tokens
 * `[B, L, D + 1]` (last channel = mask, `models/tokens.ts`), for ITO's fusion.
 *
 * Parameters: `token_embed` `[vocab, D]`, `pos_embed` `[1, L, D]` (no decay),
 * `blocks.<i>.*`, `norm`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Layering, Module, NodeValue, Parameter } from "../core/types.ts";
import {
  applyLayerNorm,
  createLayerNorm,
  disposeParameters,
  type LayerNorm,
  ParameterStore,
} from "./layers.ts";
import { embedRows } from "./embedding.ts";
import { type EncodedBatch, SubwordTokenizer } from "./subword.ts";
import { hostValue } from "../core/host_value.ts";
import type { StepHost } from "../core/step_host.ts";
import { packTextTokens } from "./tokens.ts";
import { blockLayering } from "./block_layering.ts";
import { type BlockCheckpointing, checkpointed, checkpointsBlock } from "./checkpoint.ts";
import {
  applyBlock,
  causalBias,
  createBlock,
  keyPaddingBias,
  type TransformerBlock,
} from "./transformer.ts";
import type { Tensor, Variable } from "../core/tensor.ts";

/** How a {@link TextTransformer} turns token states into one embedding. */
export type TextPooling = "eot" | "cls" | "mean";

/** Architecture of a {@link TextTransformer}. */
export interface TextTransformerOptions {
  /** Embedding-table rows (see `models/subword.ts`). */
  vocab: number;
  /** Hash buckets for rare cl100k ids. */
  buckets: number;
  /** Sequence length `L` (SOT and EOT included); longer texts are truncated. */
  maxLength: number;
  /** Width `D`. */
  dim: number;
  /** Number of blocks. */
  depth: number;
  /** Attention heads (`D` divisible by it). */
  heads: number;
  /** MLP hidden width as a multiple of `D`. */
  mlpRatio: number;
  /** Causal attention (true) or bidirectional (false). */
  causal: boolean;
  /** Pooling of the `pooled` output. */
  pooling: TextPooling;
  /** `pooled` → `[B, D]`; `tokens` → packed `[B, L, D + 1]`. */
  output: "pooled" | "tokens";
  /**
   * Activation checkpointing: a checkpointed block keeps only its input for
   * the backward pass and runs again there (`models/checkpoint.ts`): `true`
   * every block, N the first N (default false).
   */
  checkpoint?: BlockCheckpointing;
}

/** Captions `B` strings → `[B, D]` (or packed tokens `[B, L, D + 1]`). */
export class TextTransformer implements Module {
  /** Trainable parameters. */
  readonly parameters: Parameter[];
  /** Layers for `layer_decay`: token and position embeddings 0, block `i` `i + 1`, the final norm on top. */
  readonly layering: Layering;
  /** The tokenizer (exposed for inspection and tests). */
  readonly tokenizer: SubwordTokenizer;
  readonly #tokenEmbed: Variable;
  readonly #posEmbed: Variable;
  readonly #blocks: TransformerBlock[] = [];
  /** Every variable each block reads (for checkpointing). */
  readonly #blockVariables: Variable[][] = [];
  readonly #norm: LayerNorm;
  #encoded: { texts: string[]; batch: EncodedBatch } | null = null;

  /** Builds the parameters under `init.name`; throws on inconsistent options. */
  constructor(readonly options: TextTransformerOptions, init: { name: string; seed: number }) {
    const { vocab, buckets, maxLength, dim, depth, heads, mlpRatio } = options;
    if (dim % heads !== 0) {
      throw new Error(
        `node "${init.name}" (text_transformer): dim ${dim} is not divisible by heads ${heads}`,
      );
    }
    if (options.causal && options.pooling === "cls" && options.output === "pooled") {
      throw new Error(
        `node "${init.name}" (text_transformer): pooling "cls" with causal: true reads a token ` +
          `that sees only itself; use pooling "eot" or "mean", or causal: false`,
      );
    }
    this.tokenizer = new SubwordTokenizer({ vocab, buckets, maxLength });
    const store = new ParameterStore(init.name, init.seed);
    this.#tokenEmbed = store.add("token_embed", store.truncNormal([vocab, dim], 0.02), true);
    this.#posEmbed = store.add("pos_embed", store.truncNormal([1, maxLength, dim], 0.01), false);
    for (let index = 0; index < depth; index++) {
      const first = store.parameters.length;
      this.#blocks.push(createBlock(store, { index, dim, mlpRatio }));
      this.#blockVariables.push(store.parameters.slice(first).map((q) => q.variable));
    }
    this.#norm = createLayerNorm(store, "norm", dim);
    this.parameters = store.parameters;
    this.layering = blockLayering(init.name, depth, ["token_embed", "pos_embed"]);
  }

  /** `B` strings → `[B, D]` (pooled) or `[B, L, D + 1]` (tokens). */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    const texts = inputs[0];
    if (!Array.isArray(texts)) {
      throw new Error(
        `text_transformer expects a list of strings such as batch.caption, ` +
          `got a tensor of shape [${texts.shape.join(", ")}]`,
      );
    }
    const { maxLength: l, dim, pooling } = this.options;
    const b = texts.length;
    // Host values: a replayed step (core/replayable_step.ts) encodes its own batch's texts.
    const encoded = (host: StepHost) => this.#encode(host.input(texts));
    const mask = hostValue((host) => encoded(host).mask, [b, l]);
    const rows = hostValue((host) => encoded(host).rows, [b * l]);
    let x = tf.add(embedRows(this.#tokenEmbed, rows).reshape([b, l, dim]), this.#posEmbed);
    const keyBias = keyPaddingBias(mask);
    const bias = this.options.causal ? causalBias(l) : undefined;
    // A scope per block: what the gradient tape does not keep is freed as each block ends.
    // A checkpointed block (`checkpoint`: all, or the first N) keeps only its input (and the
    // masks) and runs again in the backward pass.
    const { heads } = this.options;
    this.#blocks.forEach((block, i) => {
      const run = (h: Tensor, kb: Tensor, cb?: Tensor) =>
        applyBlock(block, h, { heads, keyBias: kb, ...(cb && { bias: cb }) });
      const masks = bias ? [keyBias, bias] : [keyBias];
      x = tf.tidy(() =>
        checkpointsBlock(this.options.checkpoint, i)
          ? checkpointed(
            (h, ...m) => run(h, m[0]!, m[1]),
            x,
            this.#blockVariables[i]!,
            masks,
          )
          : run(x, keyBias, bias)
      );
    });
    x = applyLayerNorm(this.#norm, x);
    if (this.options.output === "tokens") return packTextTokens(x, mask);
    if (pooling === "cls") return tf.squeeze(tf.slice(x, [0, 0, 0], [-1, 1, -1]), [1]);
    const weights = pooling === "eot"
      ? tf.oneHot(hostValue((host) => encoded(host).eot, [b]), l).toFloat()
      : tf.div(mask, tf.sum(mask, 1, true));
    return tf.sum(tf.mul(x, tf.expandDims(weights, -1)), 1);
  }

  /** The tokenizer's encoding of `texts`, made once per caption list (three host values read it). */
  #encode(texts: string[]): EncodedBatch {
    const last = this.#encoded;
    if (!last || last.texts.length !== texts.length || last.texts.some((t, i) => t !== texts[i])) {
      this.#encoded = { texts: [...texts], batch: this.tokenizer.encodeBatch(texts) };
    }
    return this.#encoded!.batch;
  }

  /** Releases all variables. */
  dispose(): void {
    disposeParameters(this.parameters);
  }
}
