/**
 * Vision Transformer size presets. `tiny` trains on a 2-core CPU in minutes
 * (28 px digits); `ti`, `s`, `b` are the usual ViT-Ti/S/B with 16 px patches.
 *
 * @module
 */
import type { BlockCheckpointing } from "./checkpoint.ts";

/** Architecture of a ViT. */
export interface VitConfig {
  /** Side of a square patch in pixels. */
  patch: number;
  /** Embedding width D. */
  dim: number;
  /** Number of transformer blocks. */
  depth: number;
  /** Attention heads (D must be divisible by heads). */
  heads: number;
  /** MLP hidden width as a multiple of D (`⌊D · mlpRatio⌋`, timm's `int()`). */
  mlpRatio: number;
  /** Activation inside the block MLPs (default `gelu`, as in timm; `quick_gelu`: OpenAI's CLIP). */
  activation?: "gelu" | "relu" | "quick_gelu" | "gelu_tanh";
  /**
   * The blocks' MLP: `fc1`, activation, `fc2` (default), or timm's
   * `SwiGLUPacked` (`silu(a)·b` of `fc1`'s halves, then `fc2`: DINOv2-g).
   */
  mlp?: "mlp" | "swiglu";
  /** The LayerNorms' variance epsilon (default 1e-6, timm's; 1e-5: PyTorch's, CLIP towers). */
  normEps?: number;
  /** LayerScale (CaiT, DeiT III, DINOv2): each branch times a learned `γ` `[D]` starting here. */
  layerScale?: number;
  /** Register tokens after the CLS (Darcet et al., arXiv 2309.16588; default 0). */
  registers?: number;
  /**
   * Whether the CLS (and register) tokens have learned positions (default true,
   * timm's; false: positions only for patches, timm's `no_embed_class`).
   */
  prefixPositions?: boolean;
  /**
   * The image embedding: the CLS token after `norm` (default), the patch mean
   * after `fc_norm`, or attention pooling of the patch tokens after `norm` with a
   * learned latent query (`map`, SigLIP's head: `models/attention_pool.ts`).
   */
  pool?: "cls" | "avg" | "map";
  /** A LayerNorm `norm_pre` before the blocks (timm's `pre_norm`, CLIP image towers). */
  normPre?: boolean;
  /** Whether there is a CLS token (default true; false needs `pool: avg` or `map`, timm's `class_token`). */
  classToken?: boolean;
  /**
   * Activation checkpointing: a checkpointed block keeps only its input for
   * the backward pass and runs again there (`models/checkpoint.ts`): `true`
   * every block, N the first N (default false).
   */
  checkpoint?: BlockCheckpointing;
  /**
   * Patch dropout (FLIP; `models/patch_dropout.ts`): the share of patch
   * tokens each training image drops before the blocks, in [0, 1) (default 0).
   */
  patchDropout?: number;
  /** With `patchDropout`: the first step trained on every patch (FLIP's unmasked tuning). */
  patchDropoutUntil?: number;
  /**
   * Stochastic depth (`models/drop_path.ts`): the last block's drop
   * probability, rising linearly from 0 at the first (timm's
   * `drop_path_rate`; default 0).
   */
  dropPath?: number;
}

/** Named presets (`preset:` in a recipe); explicit keys override them. */
export const VIT_PRESETS: Record<string, VitConfig> = {
  tiny: { patch: 7, dim: 64, depth: 4, heads: 4, mlpRatio: 2 },
  ti: { patch: 16, dim: 192, depth: 12, heads: 3, mlpRatio: 4 },
  s: { patch: 16, dim: 384, depth: 12, heads: 6, mlpRatio: 4 },
  b: { patch: 16, dim: 768, depth: 12, heads: 12, mlpRatio: 4 },
};
