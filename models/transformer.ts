/**
 * Pre-LN transformer blocks with an additive attention bias, shared by the
 * modules whose attention must skip some keys: the ITO fusion transformer (text
 * padding) and the text transformer (padding, causal order).
 *
 * A block computes `x + attn(LN₁(x))`, then `x + mlp(LN₂(x))` with
 * `attn = proj(softmax(Q Kᵀ / √d_h + bias) V)` per head and a GELU MLP.
 * Parameter names follow timm (`blocks.<i>.norm1.weight`, `blocks.<i>.attn.qkv.weight`, …).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  applyLayerNormWithSkip,
  applyLinear,
  applyMlp,
  createLayerNorm,
  createLinear,
  type LayerNorm,
  type Linear,
  type ParameterStore,
} from "./layers.ts";
import { selfAttention, selfAttentionComposite } from "../kernels/attention.ts";
import type { Tensor } from "../core/tensor.ts";

/** Additive logit of a masked key (softmax weight ≈ 0, still finite). */
export const MASKED_LOGIT: number = -1e9;

/** The parameters of one pre-LN block. */
export interface TransformerBlock {
  /** LayerNorm before attention. */
  norm1: LayerNorm;
  /** Joint Q, K, V projection `[D, 3D]`. */
  qkv: Linear;
  /** Attention output projection `[D, D]`. */
  proj: Linear;
  /** LayerNorm before the MLP. */
  norm2: LayerNorm;
  /** MLP expansion `[D, rD]`. */
  fc1: Linear;
  /** MLP contraction `[rD, D]`. */
  fc2: Linear;
}

/**
 * Creates block `blocks.<index>` of width `dim`.
 *
 * @param store Where the parameters go.
 * @param options Block `index`, width `dim` and MLP ratio `mlpRatio`.
 */
export function createBlock(
  store: ParameterStore,
  options: { index: number; dim: number; mlpRatio: number },
): TransformerBlock {
  const { dim, mlpRatio } = options;
  const p = `blocks.${options.index}`;
  return {
    norm1: createLayerNorm(store, `${p}.norm1`, dim),
    qkv: createLinear(store, `${p}.attn.qkv`, { inDim: dim, outDim: 3 * dim }),
    proj: createLinear(store, `${p}.attn.proj`, { inDim: dim, outDim: dim }),
    norm2: createLayerNorm(store, `${p}.norm2`, dim),
    fc1: createLinear(store, `${p}.mlp.fc1`, { inDim: dim, outDim: dim * mlpRatio }),
    fc2: createLinear(store, `${p}.mlp.fc2`, { inDim: dim * mlpRatio, outDim: dim }),
  };
}

/**
 * Multi-head attention over `x` `[N, T, D]`, plus `skip` after the output
 * projection (in its epilogue on WebGPU). With a per-key bias only it is
 * `selfAttention` (`kernels/attention.ts`: the fused WebGPU kernels where
 * active); a general `bias` (causal order) takes `selfAttentionComposite`.
 */
function attention(
  block: TransformerBlock,
  x: Tensor,
  skip: Tensor,
  options: AttentionOptions,
): Tensor {
  const qkv = applyLinear(block.qkv, x);
  const context = options.bias
    ? selfAttentionComposite(qkv, options.heads, options.keyBias, options.bias)
    : selfAttention(qkv, options.heads, options.keyBias);
  return applyLinear(block.proj, context, undefined, skip);
}

/** Options of {@link applyBlock}. */
export interface AttentionOptions {
  /** Attention heads (the width must be divisible by it). */
  heads: number;
  /** Additive per-key bias `[N, T]` (key padding: {@link keyPaddingBias}), or none. */
  keyBias?: Tensor;
  /** Any other additive attention bias broadcastable to `[N, H, T, T]` (causal order), or none. */
  bias?: Tensor;
}

/**
 * Applies one pre-LN block to `x` `[N, T, D]`.
 *
 * @returns `[N, T, D]`.
 */
export function applyBlock(block: TransformerBlock, x: Tensor, options: AttentionOptions): Tensor {
  const [normed1, skip1] = applyLayerNormWithSkip(block.norm1, x);
  const attended = attention(block, normed1, skip1, options);
  const [normed2, skip2] = applyLayerNormWithSkip(block.norm2, attended);
  return applyMlp(block.fc1, block.fc2, normed2, "gelu", skip2);
}

/**
 * Key-padding bias from a mask `[N, T]` (1 = real token, 0 = padding): `[N, T]`
 * holding 0 for real keys and {@link MASKED_LOGIT} for padding (the
 * `keyBias` of {@link AttentionOptions}).
 */
export function keyPaddingBias(mask: Tensor): Tensor {
  return tf.mul(tf.sub(1, mask), MASKED_LOGIT);
}

/** Causal bias `[1, 1, T, T]`: query `i` sees keys `j ≤ i` only. */
export function causalBias(t: number): Tensor {
  const lower = tf.linalg.bandPart(tf.ones([t, t]), -1, 0);
  return tf.mul(tf.sub(1, lower), MASKED_LOGIT).reshape([1, 1, t, t]);
}
