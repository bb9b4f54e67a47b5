/**
 * Token-sequence conventions shared by the modules that exchange token-level
 * outputs, and the `take_token` node.
 *
 * **Packed text tokens.** A graph node outputs one tensor, so a text tower's
 * token output carries its padding mask as an extra last channel:
 * `[B, L, D + 1]`, where `[..., 0:D]` are the token features and `[..., D]` is
 * the mask (1 = real token, 0 = padding; padded feature rows are 0). Producers:
 * `frozen_text` and `text_transformer` with `output: tokens`; consumer: ITO's
 * `fusion`. One node and one edge per text side keeps features and mask from
 * ever disagreeing in length, and a recipe cannot wire a mask of another text.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import type { Tensor } from "../core/tensor.ts";

/**
 * Packs token features `[B, L, D]` and a mask `[B, L]` (1 = real) into `[B, L, D + 1]`.
 * Feature rows of padding positions are zeroed.
 */
export function packTextTokens(features: Tensor, mask: Tensor): Tensor {
  const m = tf.expandDims(tf.cast(mask, "float32"), -1);
  return tf.concat([tf.mul(features, m), m], -1);
}

/** Splits packed tokens `[B, L, D + 1]` into features `[B, L, D]` and mask `[B, L]`. */
export function unpackTextTokens(packed: Tensor): { features: Tensor; mask: Tensor } {
  const d = packed.shape.at(-1)! - 1;
  const features = tf.slice(packed, [0, 0, 0], [-1, -1, d]);
  const mask = tf.squeeze(tf.slice(packed, [0, 0, d], [-1, -1, 1]), [-1]);
  return { features, mask };
}

/**
 * `take_token`: picks token `index` of a token sequence, `[..., T, D]` → `[..., D]`
 * (index 0 of a ViT's `output: tokens` is its final-normed CLS embedding, the same
 * value as `output: cls`). No parameters.
 */
export class TakeToken implements Module {
  /** No parameters. */
  readonly parameters: Parameter[] = [];

  /** Picks token `index` (negative counts from the end). */
  constructor(readonly index: number) {}

  /** `[..., T, D]` → `[..., D]`. */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    const x = inputs[0] as Tensor;
    const t = x.shape.at(-2)!;
    const i = this.index < 0 ? t + this.index : this.index;
    const begin = x.shape.map((_, k) => (k === x.rank - 2 ? i : 0));
    const size = x.shape.map((_, k) => (k === x.rank - 2 ? 1 : -1));
    return tf.squeeze(tf.slice(x, begin, size), [x.rank - 2]);
  }

  /** Nothing to release. */
  dispose(): void {}
}
