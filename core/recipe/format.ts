/**
 * The resolved recipe printed back as recipe YAML (`deno task validate`):
 * every default filled in, vars substituted, `extends` flattened. The output
 * is itself a valid recipe that loads to the same resolved recipe.
 *
 * @module
 */
import { Document, isScalar, visit } from "yaml";
import type { LoadedRecipe } from "./load.ts";
import type { ResolvedRecipe } from "./types.ts";

function recipeSyntax(recipe: ResolvedRecipe): Record<string, unknown> {
  const nodes: Record<string, unknown> = {};
  for (const [name, node] of Object.entries(recipe.nodes)) {
    const input = node.input.length === 1 ? node.input[0] : node.input;
    nodes[name] = {
      kind: node.kind,
      ...(node.input.length > 0 ? { input } : {}),
      phase: node.phase,
      // Only when set: recipes resolved before these keys existed print as they did.
      ...(node.initFrom
        ? {
          init_from: Object.keys(node.initFrom).length > 1 ? node.initFrom : node.initFrom.path,
        }
        : {}),
      ...(node.freeze ? { freeze: true } : {}),
      ...(node.frozenUntil !== undefined
        ? {
          freeze: {
            until: node.frozenUntil,
            ...(node.unfreezeWarmup ? { warmup: node.unfreezeWarmup } : {}),
          },
        }
        : {}),
      ...(node.lrScale !== undefined ? { lr_scale: node.lrScale } : {}),
      ...(node.layerDecay !== undefined ? { layer_decay: node.layerDecay } : {}),
      ...node.params,
    };
  }
  return {
    name: recipe.name,
    seed: recipe.seed,
    backend: recipe.backend,
    precision: recipe.precision,
    vars: recipe.vars,
    data: { kind: recipe.data.kind, ...recipe.data.params },
    nodes,
    losses: recipe.losses.map((l) => ({
      kind: l.kind,
      name: l.name,
      inputs: l.inputs,
      weight: l.weight,
      ...l.params,
    })),
    train: recipe.train,
    eval: recipe.eval.map((e) => ({
      kind: e.kind,
      name: e.name,
      ...(e.data && { data: { kind: e.data.kind, ...e.data.params } }),
      ...e.params,
    })),
  };
}

/**
 * YAML text of the resolved recipe in recipe syntax (component params
 * inline with `kind`, short lists of scalars in flow style), headed by a
 * comment naming the files it came from.
 */
export function formatResolvedRecipe(loaded: LoadedRecipe): string {
  const doc = new Document(recipeSyntax(loaded.recipe));
  visit(doc, {
    Seq(_, seq) {
      const short = JSON.stringify(seq.toJSON()).length <= 60;
      if (short && seq.items.every((item) => isScalar(item))) seq.flow = true;
    },
  });
  doc.commentBefore = ` resolved recipe "${loaded.recipe.name}" from: ${loaded.sources.join(", ")}`;
  return doc.toString({ lineWidth: 100 });
}
