/**
 * Checks of the keys that change how a node trains — `freeze`, `lr_scale`,
 * `layer_decay` — against the built modules, before any compute: a key that
 * would change nothing (a node without trainable parameters), a recipe in
 * which nothing trains, and layer-wise decay on a node without layers each
 * throw a located {@linkcode GraphError}.
 *
 * @module
 */
import { GraphError, type GraphSpec } from "./graph_spec.ts";
import type { Module } from "./types.ts";

/**
 * Throws a located GraphError for `freeze: true`, `lr_scale` or `layer_decay`
 * on a node without trainable parameters (a frozen text tower, `views`): any of
 * them would change nothing, so the recipe probably names the wrong node; for
 * every node frozen; and for `layer_decay` on a module without layers.
 *
 * @param spec The graph (its nodes' keys, and where they were written).
 * @param modules The built modules by node name.
 * @throws GraphError at `nodes.<name>.freeze` / `.lr_scale` / `.layer_decay`.
 */
export function checkTrainingKeys(spec: GraphSpec, modules: Map<string, Module>): void {
  const withParameters = spec.nodes.filter((n) => modules.get(n.name)!.parameters.length > 0);
  const frozen = withParameters.filter((n) => n.freeze || n.frozenUntil !== undefined);
  if (frozen.length > 0 && frozen.length === withParameters.length) {
    const keyPath = `nodes.${frozen[0]!.name}.freeze`;
    const until = frozen.flatMap((n) => n.frozenUntil ?? []);
    throw new GraphError(
      keyPath,
      `every node with parameters is frozen (${frozen.map((n) => n.name).join(", ")}): ` +
        (until.length
          ? `nothing would train before step ${Math.min(...until)}; leave one node trained ` +
            "from the start (linear probe, then fine-tune: freeze the encoder, train the heads)"
          : "nothing would train; unfreeze one, or evaluate the checkpoint with deno task eval"),
      spec.locate?.(keyPath),
    );
  }
  for (const node of spec.nodes) {
    const written = node.freeze
      ? ["freeze", "freeze: true"]
      : node.frozenUntil !== undefined
      ? ["freeze", `freeze: { until: ${node.frozenUntil} }`]
      : node.lrScale !== undefined
      ? ["lr_scale", `lr_scale: ${node.lrScale}`]
      : node.layerDecay !== undefined
      ? ["layer_decay", `layer_decay: ${node.layerDecay}`]
      : undefined;
    if (!written || modules.get(node.name)!.parameters.length > 0) continue;
    const keyPath = `nodes.${node.name}.${written[0]}`;
    throw new GraphError(
      keyPath,
      `${node.kind} has no trainable parameters: ${written[1]} changes nothing`,
      spec.locate?.(keyPath),
    );
  }
  for (const node of spec.nodes) {
    if (node.layerDecay === undefined || modules.get(node.name)!.layering) continue;
    const keyPath = `nodes.${node.name}.layer_decay`;
    const layered = spec.nodes.filter((n) => modules.get(n.name)!.layering).map((n) => n.name);
    throw new GraphError(
      keyPath,
      `${node.kind} has no stack of layers for layer_decay: ${node.layerDecay} to decay over; ` +
        "expected a transformer node (vit, text_transformer)" +
        (layered.length ? ` such as ${layered.join(", ")} in this recipe` : "") +
        `, or lr_scale for one rate over the whole node`,
      spec.locate?.(keyPath),
    );
  }
}
