/**
 * One block of the ViT (`models/vit.ts`): pre-LN multi-head self-attention
 * and MLP, each added back through the skip connection, under timm's names
 * (`blocks.<i>.norm1`, `.attn.qkv`, `.attn.proj`, `.norm2`, `.mlp.fc1`,
 * `.mlp.fc2`, LayerScale's `.ls1.gamma`, `.ls2.gamma`). A branch's output is
 * `x + m · γ ⊙ f(LN(x))`: LayerScale's `γ` when the ViT has it, the
 * stochastic-depth multipliers `m` (`models/drop_path.ts`) when the step
 * draws them; with neither, the skip is added in the branch's last matmul's
 * epilogue (on WebGPU with novalab's kernels).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import {
  applyLayerNorm,
  applyLayerNormWithSkip,
  applyLinear,
  applyMlp,
  createLayerNorm,
  createLinear,
  type Linear,
  type ParameterStore,
} from "./layers.ts";
import { selfAttention } from "../kernels/attention.ts";
import type { VitConfig } from "./vit_presets.ts";
import type { TransformerBlock } from "./transformer.ts";
import type { Tensor, Tensor3D, Variable } from "../core/tensor.ts";

/**
 * The parameters of one ViT block: the shared pre-LN block's
 * (`models/transformer.ts`), LayerScale's and the variable list.
 */
export interface VitBlock extends TransformerBlock {
  /** LayerScale's `γ` of the attention and MLP branches (with `layerScale`). */
  ls1?: Variable;
  /** See `ls1`. */
  ls2?: Variable;
  /** Every variable the block reads (for checkpointing). */
  variables: Variable[];
}

/**
 * Block `index`'s parameters in `store`, under `blocks.<index>.`.
 *
 * @param store Where the parameters are created (in timm's order).
 * @param index The block's position in the stack.
 * @param config The ViT's architecture.
 * @param hidden The MLP width `⌊D · mlpRatio⌋`.
 * @returns The block.
 */
export function createVitBlock(
  store: ParameterStore,
  index: number,
  config: VitConfig,
  hidden: number,
): VitBlock {
  const { dim } = config, eps = config.normEps ?? 1e-6, p = `blocks.${index}`;
  const first = store.parameters.length;
  const block: Omit<VitBlock, "variables"> = {
    norm1: createLayerNorm(store, `${p}.norm1`, dim, eps),
    qkv: createLinear(store, `${p}.attn.qkv`, { inDim: dim, outDim: 3 * dim }),
    proj: createLinear(store, `${p}.attn.proj`, { inDim: dim, outDim: dim }),
    norm2: createLayerNorm(store, `${p}.norm2`, dim, eps),
    fc1: createLinear(store, `${p}.mlp.fc1`, { inDim: dim, outDim: hidden }),
    fc2: createLinear(store, `${p}.mlp.fc2`, {
      inDim: config.mlp === "swiglu" ? hidden / 2 : hidden,
      outDim: dim,
    }),
  };
  if (config.layerScale !== undefined) {
    const gamma = (name: string) => store.add(name, tf.fill([dim], config.layerScale!), false);
    block.ls1 = gamma(`${p}.ls1.gamma`);
    block.ls2 = gamma(`${p}.ls2.gamma`);
  }
  const variables = store.parameters.slice(first).map((q) => q.variable);
  return { ...block, variables };
}

/**
 * timm's `SwiGLUPacked` (a `GluMlp` with SiLU, the gate first): `fc1`'s output
 * split into halves `a | b`, `silu(a) · b`, then `fc2` (plus `skip` when given).
 */
function swiGluMlp(fc1: Linear, fc2: Linear, x: Tensor, skip?: Tensor): Tensor {
  const [a, b] = tf.split(applyLinear(fc1, x), 2, -1) as [Tensor, Tensor];
  return applyLinear(fc2, tf.mul(tf.mul(a, tf.sigmoid(a)), b), undefined, skip);
}

/**
 * One pre-LN block over `[N, T, D]`: `x + attn(LN(x))`, then `x + mlp(LN(x))`,
 * each branch scaled by LayerScale's `γ` and by `masks` (the attention's,
 * then the MLP's stochastic-depth multipliers `[N, 1, 1]`) where given.
 *
 * @param block The block's parameters.
 * @param x Tokens `[N, T, D]`.
 * @param config The ViT's architecture (heads, activation, MLP kind).
 * @param masks None, or both branches' per-sample multipliers.
 * @returns The block's output tokens.
 */
export function applyVitBlock(
  block: VitBlock,
  x: Tensor3D,
  config: VitConfig,
  masks: readonly Tensor[] = [],
): Tensor3D {
  const activation = config.activation ?? "gelu";
  const mlp = (h: Tensor, skip?: Tensor): Tensor =>
    config.mlp === "swiglu"
      ? swiGluMlp(block.fc1, block.fc2, h, skip)
      : applyMlp(block.fc1, block.fc2, h, activation, skip);
  // Multi-head self-attention softmax(QKᵀ/√d)V on the backend's fastest path
  // (`kernels/attention.ts`), then the output projection plus `skip`.
  const attention = (h: Tensor, skip?: Tensor): Tensor =>
    applyLinear(
      block.proj,
      selfAttention(applyLinear(block.qkv, h), config.heads),
      undefined,
      skip,
    );
  if (!block.ls1 && masks.length === 0) {
    const [normed1, skip1] = applyLayerNormWithSkip(block.norm1, x);
    const attended = attention(normed1, skip1);
    const [normed2, skip2] = applyLayerNormWithSkip(block.norm2, attended);
    return mlp(normed2, skip2) as Tensor3D;
  }
  // Scaled branches: the skip is added after the scales, outside the epilogue.
  const residual = (h: Tensor, branch: Tensor, gamma?: Variable, mask?: Tensor): Tensor => {
    let y = gamma ? tf.mul(branch, gamma) : branch;
    if (mask) y = tf.mul(y, mask);
    return tf.add(h, y);
  };
  const attended = residual(x, attention(applyLayerNorm(block.norm1, x)), block.ls1, masks[0]);
  return residual(
    attended,
    mlp(applyLayerNorm(block.norm2, attended)),
    block.ls2,
    masks[1],
  ) as Tensor3D;
}
