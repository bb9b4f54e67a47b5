/**
 * Attention pooling with a learned latent query — the "MAP" head of SigLIP's
 * image towers (Zhai et al., arXiv 2303.15343; big_vision's `MAPHead`, timm's
 * `AttentionPoolLatent`, `global_pool='map'`): one learned token attends over
 * every token of the encoder, then a pre-LN MLP with a skip refines it:
 *
 * `q = latent·W_q + b_q`, `[k | v] = x·W_kv + b_kv`,
 * `y = softmax(q kᵀ / √d_h) v · W_proj + b_proj` (per head, heads concatenated),
 * `y ← y + mlp(LN(y))`, the image embedding being `y` `[N, D]`.
 *
 * Parameter names are timm's (`attn_pool.latent`, `attn_pool.q`,
 * `attn_pool.kv`, `attn_pool.proj`, `attn_pool.norm`, `attn_pool.mlp.fc1`,
 * `attn_pool.mlp.fc2`), so SigLIP towers load with `layout: timm`. The `vit`
 * node hands it the patch tokens after the final norm (current timm's
 * `pool_include_prefix=False`: a CLS and registers are not attended over). One query
 * against T keys is a matrix–vector product per head: the op composition,
 * differentiated by tfjs, on every backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor, Tensor3D, Variable } from "../core/tensor.ts";
import {
  applyLayerNorm,
  applyLinear,
  applyMlp,
  createLayerNorm,
  createLinear,
  type LayerNorm,
  type Linear,
  type ParameterStore,
} from "./layers.ts";

/** The pooling head's shape. */
export interface AttentionPoolConfig {
  /** Token width `D`. */
  dim: number;
  /** Attention heads (`D` divisible by them). */
  heads: number;
  /** MLP hidden width as a multiple of `D`. */
  mlpRatio: number;
  /** The MLP's activation (a name of `ACTIVATIONS`). */
  activation: string;
  /** The LayerNorm's epsilon. */
  eps: number;
}

/** timm's `AttentionPoolLatent` with one latent token; see the module notes. */
export class AttentionPool {
  readonly #latent: Variable;
  readonly #q: Linear;
  readonly #kv: Linear;
  readonly #proj: Linear;
  readonly #norm: LayerNorm;
  readonly #fc1: Linear;
  readonly #fc2: Linear;

  /** Creates the head's parameters under `<name>.` in `store` (timm's: `attn_pool`). */
  constructor(store: ParameterStore, name: string, readonly config: AttentionPoolConfig) {
    const { dim, mlpRatio, eps } = config;
    // timm draws the latent from a truncated normal of std D^-½. Not weight-decayed here, like
    // the CLS and register tokens (timm's no_weight_decay list omits it, so timm decays it).
    this.#latent = store.add(`${name}.latent`, store.truncNormal([1, 1, dim], dim ** -0.5), false);
    this.#q = createLinear(store, `${name}.q`, { inDim: dim, outDim: dim });
    this.#kv = createLinear(store, `${name}.kv`, { inDim: dim, outDim: 2 * dim });
    this.#proj = createLinear(store, `${name}.proj`, { inDim: dim, outDim: dim });
    this.#norm = createLayerNorm(store, `${name}.norm`, dim, eps);
    const hidden = Math.floor(dim * mlpRatio); // timm's int(embed_dim * mlp_ratio)
    this.#fc1 = createLinear(store, `${name}.mlp.fc1`, { inDim: dim, outDim: hidden });
    this.#fc2 = createLinear(store, `${name}.mlp.fc2`, { inDim: hidden, outDim: dim });
  }

  /** Pools tokens `[N, T, D]` into one embedding per row, `[N, D]`. */
  apply(x: Tensor3D): Tensor {
    const [n, t, dim] = x.shape;
    const { heads } = this.config, head = dim / heads;
    // [1, D] → [H, 1, d]: the latent's query, the same for every row.
    const q = applyLinear(this.#q, this.#latent.reshape([1, dim])).reshape([heads, 1, head]);
    // [N, T, 2D] → k, v [N, H, T, d] (timm's reshape(B, N, 2, H, d)).
    const kv = applyLinear(this.#kv, x).reshape([n, t, 2, heads, head]).transpose([2, 0, 3, 1, 4]);
    const [k, v] = tf.unstack(kv, 0) as [Tensor, Tensor];
    const scores = tf.mul(
      tf.matMul(tf.broadcastTo(q, [n, heads, 1, head]), k, false, true),
      head ** -0.5,
    );
    const attended = tf.matMul(tf.softmax(scores, -1), v); // [N, H, 1, d]
    const y = applyLinear(this.#proj, attended.reshape([n, dim]));
    return applyMlp(this.#fc1, this.#fc2, applyLayerNorm(this.#norm, y), this.config.activation, y);
  }
}
