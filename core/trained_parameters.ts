/**
 * A node's parameters as the optimiser trains them. Their learning-rate
 * multipliers: the node's `lr_scale`, times `k^(top − layer)` under
 * `layer_decay: k` — layer-wise
 * learning-rate decay (Bao et al., BEiT, arXiv 2106.08254; He et al., MAE,
 * arXiv 2111.06377), which fine-tunes a pre-trained encoder's early layers
 * more gently than its last ones. Layers are the module's own
 * ({@linkcode Layering}: for a transformer the embeddings are layer 0, block
 * `i` is layer `i + 1`, the final norm the top), numbered as BEiT's and
 * MAE's `get_layer_id_for_vit` numbers them. Their first step: a node
 * `freeze: { until: N }` trains from step N, and its parameters' AdamW bias
 * corrections count updates from there (`startStep`).
 *
 * @module
 */
import type { NodeSpec } from "./graph_spec.ts";
import type { Module, Parameter } from "./types.ts";

/**
 * The node's parameters as the optimiser trains them: each with its
 * learning-rate multiplier (`lrScale`, left absent where it is 1) and the
 * step it starts training at (`startStep`, absent for 0).
 *
 * @param node The node (`lrScale`, `layerDecay`, `frozenUntil`).
 * @param module Its built module (`layering` is required with `layerDecay`).
 * @throws Error when the node has `layerDecay` and the module no layering
 *   (checked, located, before training: `core/training_keys.ts`).
 */
export function trainedParameters(node: NodeSpec, module: Module): Parameter[] {
  const start = node.frozenUntil, warmup = node.unfreezeWarmup;
  const own = start === undefined
    ? module.parameters
    : module.parameters.map((p) => ({ ...p, startStep: start, ...(warmup && { warmup }) }));
  const nodeScale = node.lrScale ?? 1;
  const decay = node.layerDecay;
  if (decay === undefined) {
    return nodeScale === 1 ? own : own.map((p) => ({ ...p, lrScale: nodeScale }));
  }
  const layering = module.layering;
  if (!layering) {
    throw new Error(`node "${node.name}" (${node.kind}) has no layers for layer_decay`);
  }
  return own.map((p) => {
    const scale = nodeScale * decay ** (layering.top - layering.layerOf(p.name));
    return scale === 1 ? p : { ...p, lrScale: scale };
  });
}
