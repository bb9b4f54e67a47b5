/**
 * The graph part of a recipe in the form the compiler consumes: nodes with
 * their input references and phase, and weighted loss terms.
 *
 * @module
 */
import type { SourceLocation } from "./types.ts";
import type { NodeInit } from "./recipe/types.ts";
import { formatLocation } from "./recipe/errors.ts";

/** Batch fields a node or loss may reference as `batch.<field>`. */
export const BATCH_FIELDS: readonly string[] = ["image", "caption", "label"];

/** One node of the recipe graph. */
export interface NodeSpec {
  /** Node name (unique). */
  name: string;
  /** Registered module kind. */
  kind: string;
  /** Input references (`batch.image` or node names), in order. */
  inputs: string[];
  /** `train` nodes exist only in the training graph (dropped at inference). */
  phase: "train" | "all";
  /**
   * Trained parameters to start from: a run directory or `.safetensors` file
   * and the node whose tensors to read there (default this node's name).
   */
  initFrom?: NodeInit;
  /** Parameters kept fixed: not trained, still saved in checkpoints. */
  freeze?: boolean;
  /** Parameters kept fixed for the steps before this one (0-based), trained from it on. */
  frozenUntil?: number;
  /** Updates over which its rate ramps linearly up from then on (`freeze: { warmup }`). */
  unfreezeWarmup?: number;
  /** Learning-rate multiplier of the node's parameters (default 1). */
  lrScale?: number;
  /** Layer-wise learning-rate decay: a parameter of layer `l` steps at `lr · k^(top − l)`. */
  layerDecay?: number;
  /** Validated parameters for the module factory. */
  params: unknown;
}

/** One weighted loss term. */
export interface LossSpec {
  /** Display name (defaults to the kind, made unique). */
  name: string;
  /** Registered loss kind. */
  kind: string;
  /** Role → reference(s). */
  inputs: Record<string, string | string[]>;
  /** Weight in the total loss. */
  weight: number;
  /** Validated parameters for the loss factory. */
  params: unknown;
}

/** The graph of a recipe. */
export interface GraphSpec {
  /** Nodes in recipe order. */
  nodes: NodeSpec[];
  /** Loss terms in recipe order. */
  losses: LossSpec[];
  /** Where a key path (`nodes.pred`, `losses[0].inputs`) was written, when known. */
  locate?: (keyPath: string) => SourceLocation | undefined;
}

/** An error in the graph, pointing at the recipe line that caused it. */
export class GraphError extends Error {
  /** Creates the error for `keyPath` (located with `spec.locate` when possible). */
  constructor(
    readonly keyPath: string,
    detail: string,
    readonly location?: SourceLocation,
  ) {
    // A value from `--set` is located at the override itself (line 0: no line shown).
    const where = location ? `${formatLocation(location)}: ` : "";
    super(`${where}${keyPath}: ${detail}`);
    this.name = "GraphError";
  }
}

/** The node names a reference points at (`batch.*` references point at none). */
export function referencedNode(ref: string): string | undefined {
  return ref.startsWith("batch.") ? undefined : ref;
}

/** All references of a loss term, flattened. */
export function lossReferences(loss: LossSpec): string[] {
  return Object.values(loss.inputs).flatMap((r) => Array.isArray(r) ? r : [r]);
}
