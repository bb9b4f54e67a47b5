/**
 * Which loss terms a training step computes, and which graph nodes it runs
 * for them: terms with weight exactly 0 (an ablation switched them off) are
 * skipped, and so are the nodes only they read.
 *
 * @module
 */
import { lossReferences, type LossSpec } from "./graph_spec.ts";
import type { CompiledGraph } from "./graph_run.ts";

/** The active terms of a graph's losses and what they need. */
export interface ActiveLosses {
  /** Names of the terms with a weight other than 0. */
  active: Set<string>;
  /** The graph values the active terms read (no `batch.*` fields). */
  targets: string[];
  /** Terms with weight 0 and the nodes only they read: neither runs in a training step. */
  skipped: { terms: string[]; nodes: string[] };
}

/** The active loss terms of `graph`; throws when every weight is 0 (nothing to train). */
export function activeLosses(graph: CompiledGraph): ActiveLosses {
  const { losses } = graph.spec;
  const active = losses.filter((l) => l.weight !== 0);
  if (active.length === 0) {
    const names = losses.map((l) => `"${l.name}"`).join(", ");
    throw new Error(
      `every loss term has weight 0 (${names}): nothing to train; ` +
        `expected at least one losses[i].weight other than 0`,
    );
  }
  const targetsOf = (specs: LossSpec[]) =>
    specs.flatMap((l) => lossReferences(l)).filter((r) => !r.startsWith("batch."));
  const targets = targetsOf(active);
  const running = graph.ancestors(targets);
  const all = graph.ancestors(targetsOf(losses));
  return {
    active: new Set(active.map((l) => l.name)),
    targets,
    skipped: {
      terms: losses.filter((l) => l.weight === 0).map((l) => l.name),
      nodes: graph.order.map((n) => n.name).filter((n) => all.has(n) && !running.has(n)),
    },
  };
}
