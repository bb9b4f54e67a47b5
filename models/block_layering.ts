/**
 * The layers of a transformer's parameters, as BEiT's and MAE's fine-tuning
 * code numbers them for layer-wise learning-rate decay
 * (`get_layer_id_for_vit`): the embeddings (the stem) are layer 0,
 * `blocks.<i>.*` layer `i + 1`, and everything after the blocks (the final
 * norm, `fc_norm`, the `attn_pool` head) layer `depth + 1`, the top. timm's
 * `param_groups_layer_decay` differs in one place: it puts the final `norm`
 * with the last block (a factor `k` lower). Register tokens and `norm_pre`,
 * which MAE's code predates, count as embeddings here.
 *
 * @module
 */
import type { Layering } from "../core/types.ts";

/**
 * The layering of a node's transformer parameters.
 *
 * @param prefix The node name (parameter names are `<prefix>.<name>`).
 * @param depth Number of blocks.
 * @param stem Names (relative to the node) of the embedding parameters, layer 0;
 *   a name covers the parameters under it (`patch_embed` covers `patch_embed.proj.weight`).
 * @returns Layers 0 … `depth + 1`.
 */
export function blockLayering(prefix: string, depth: number, stem: string[]): Layering {
  const top = depth + 1;
  return {
    top,
    layerOf(parameterName: string): number {
      const own = parameterName.startsWith(`${prefix}.`)
        ? parameterName.slice(prefix.length + 1)
        : parameterName;
      const block = /^blocks\.(\d+)\./.exec(own);
      if (block) return Math.min(Number(block[1]) + 1, top);
      return stem.some((s) => own === s || own.startsWith(`${s}.`)) ? 0 : top;
    },
  };
}
