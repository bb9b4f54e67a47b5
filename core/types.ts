/**
 * The contracts every room of novalab plugs into: batches, graph values,
 * modules, losses, data sources and evaluators.
 *
 * @module
 */
import type { Scalar, Tensor, Tensor4D, Variable } from "./tensor.ts";

/** A position in a recipe file (1-based line and column). */
export interface SourceLocation {
  /** Path of the recipe file as the user named it (or as `extends` resolved it). */
  file: string;
  /** 1-based line. */
  line: number;
  /** 1-based column. */
  column: number;
}

/** A tensor shape; `-1` marks an axis whose size is only known at run time. */
export type Shape = number[];

/**
 * One batch from a data source.
 *
 * - `image`: `[B, H, W, C]` float32 in `[0, 1]`.
 * - `caption`: `B` strings.
 * - `label`: `B` class indices (`-1` when unknown).
 * - `index`: `B` sample indices within the split.
 */
export interface Batch {
  /** `[B, H, W, C]` float32 in `[0, 1]`. */
  image: Tensor4D;
  /** One caption per sample. */
  caption: string[];
  /** Class index per sample, `-1` when the source has none. */
  label: Int32Array;
  /** Sample index within its split. */
  index: Int32Array;
}

/** What flows along a graph edge: a tensor or a list of strings (captions). */
export type NodeValue = Tensor | string[];

/** Per-call information handed to modules and losses. */
export interface ForwardContext {
  /** True in the training graph, false in the inference graph. */
  training: boolean;
  /** Optimiser step (0-based) the call belongs to. */
  step: number;
  /** Seed derived from the recipe seed, the step and the node name. */
  seed: number;
  /**
   * In a training step, the micro-batch (0-based) of the optimiser step this
   * call belongs to (`train.accumulate`): nodes that keep batch data for
   * their `afterStep` (queues, the centre) start afresh at 0 and add the
   * others. Absent in dry runs and evaluation (a call then stands alone).
   */
  micro?: number;
  /**
   * In a training step, the first step of its training phase (0, or the step
   * where a node's `freeze: { until }` or a module's `changesAt` last began a
   * new one): constant within a phase, whose recorded step is dropped when it
   * ends, so a node may read it where reading `step` would keep the step from
   * being replayed. Absent in dry runs and evaluation.
   */
  phase?: number;
  /**
   * False where batch norms must not keep this batch's statistics for their
   * running ones (a momentum teacher's forward; default true).
   */
  statistics?: boolean;
  /**
   * True in a momentum teacher's forward pass: the student's training noise
   * (patch dropout, stochastic depth) stays off, as DINO's and iBOT's
   * teachers run without drop path and see the whole image.
   */
  teacher?: boolean;
  /**
   * In a training step, the optimiser's count of applied updates (before this
   * step's) and the run's steps: read it inside a host value
   * (`core/host_value.ts`), so a replayed step reads it afresh — unlike `step`,
   * whose reading keeps a step from being replayed. Absent in dry runs and
   * evaluation.
   */
  progress?: UpdateProgress;
}

/** A trainable tensor owned by a module. */
export interface Parameter {
  /** Name relative to its node, dot-separated (e.g. `blocks.0.attn.qkv.weight`). */
  name: string;
  /** The variable itself. */
  variable: Variable;
  /** Whether AdamW applies weight decay (false for biases, norms, scales, position embeddings). */
  decay: boolean;
  /**
   * Learning-rate multiplier of this parameter (its node's `lr_scale`; default 1): AdamW
   * steps it with `lr · lrScale`, decoupled weight decay included.
   */
  lrScale?: number;
  /**
   * The step (0-based) from which this parameter trains (its node's
   * `freeze: { until }`; default 0): AdamW's bias corrections count its
   * updates from there, as PyTorch's per-parameter `step` does.
   */
  startStep?: number;
  /**
   * With `startStep`: updates over which its rate ramps linearly from
   * `lr/warmup` to `lr` (its node's `freeze: { warmup }`; default none).
   */
  warmup?: number;
  /**
   * `false` for a buffer that is no model state to average (a queue of past
   * features): `train.ema` leaves it out. Default: averaged.
   */
  averaged?: boolean;
}

/**
 * How a module's parameters stack into layers, read by layer-wise
 * learning-rate decay (a node's `layer_decay: k` steps a parameter of layer
 * `l` at `lr · k^(top − l)`).
 */
export interface Layering {
  /** The highest layer: `depth + 1` for a transformer (embeddings 0, block `i` at `i + 1`). */
  top: number;
  /** The layer of a parameter, by its full name: 0 (embeddings) … `top` (final norm, heads). */
  layerOf(parameterName: string): number;
}

/** Where training stands when a module's `afterStep` runs. */
export interface UpdateProgress {
  /**
   * The count of applied optimiser updates, this one included (1 after the
   * first). A function: a replayed step reads it afresh (host values).
   */
  updates(): number;
  /** The run's optimiser steps (`train.steps`). */
  total: number;
}

/** A built graph node: parameters plus a forward function. */
export interface Module {
  /** Trainable parameters (empty for frozen or parameter-free modules). */
  readonly parameters: Parameter[];
  /**
   * Steps at which its training computation changes (a `vit`'s
   * `patch_dropout` `until`): each starts a training phase (the trainer
   * records its step afresh there) and `ForwardContext.phase` tells the module
   * which side it is on.
   */
  readonly changesAt?: readonly number[];
  /** Its parameters' layers, where it has a stack of them (ViT, text transformer). */
  readonly layering?: Layering;
  /**
   * Non-trainable state saved in checkpoints and used at inference (e.g.
   * BatchNorm running statistics). Never optimised.
   */
  readonly buffers?: Parameter[];
  /**
   * Computes the node's output from its inputs, in the order the recipe lists them.
   * Must be safe to call inside `tf.tidy` (no async work).
   */
  forward(inputs: NodeValue[], ctx: ForwardContext): NodeValue;
  /**
   * Applied after every optimiser step (e.g. CLIP's logit-scale clamp, BatchNorm's
   * running statistics). `guard`, when given, is the step's report
   * (`core/step_guard.ts`, read on the device): where its element 1 is 0 the step
   * was skipped and state the hook updates must stay as it was (a clamp of
   * unchanged values may run regardless). `progress` counts the applied
   * updates (a momentum teacher's decay schedule reads it).
   */
  afterStep?(guard?: Tensor, progress?: UpdateProgress): void;
  /**
   * Forgets statistics of the last training forward that `afterStep` would
   * fold in (batch norm's, a centre's): the compiler's dry runs leave some, and
   * a node no active loss runs would otherwise fold them in at its first step.
   */
  dropBatchStatistics?(): void;
  /** Releases variables and caches. */
  dispose(): void;
}

/** What a module factory knows when it builds a node. */
export interface BuildContext {
  /** Node name in the recipe (used as the parameter name prefix). */
  name: string;
  /** Shapes of the inputs, in recipe order (`[]` for string lists; batch axes as `-1`). */
  inputShapes: Shape[];
  /** Seed for this node's initialisation. */
  seed: number;
  /** Directory for caches (text-tower embeddings, vocabularies). */
  cacheDir: string;
}

/** A loss term: a pure function of named graph values. */
export type LossFn = (
  inputs: Record<string, NodeValue | NodeValue[]>,
  ctx: ForwardContext,
) => Scalar;

/** Description of a labelled dataset split. */
export interface SplitInfo {
  /** Number of samples in the split. */
  size: number;
}

/** Options for iterating over a split. */
export interface BatchOptions {
  /** Samples per batch. */
  batchSize: number;
  /** Seed of the data order (shuffled per epoch when `shuffle`). */
  seed: number;
  /** Whether to shuffle (train) or read in order (eval). */
  shuffle: boolean;
  /** Drop the final short batch. */
  dropLast: boolean;
  /**
   * Convert decoded pixels to floats on the host even where the device could
   * (`data/pixel_batch.ts`). Evaluation asks for it: its replayed calls lend
   * their temporaries to the pool between calls, and a batch converted on the
   * device would take one. Default false.
   */
  hostPixels?: boolean;
}

/** A data source: labelled images with captions, split into named parts. */
export interface DataSource {
  /** Human-readable name (e.g. `mnist`). */
  readonly name: string;
  /** Class names, indexed by label (used by zero-shot prompts). */
  readonly classNames: string[];
  /** Image shape `[H, W, C]` of decoded samples. */
  readonly imageShape: [number, number, number];
  /** Available splits and their sizes. */
  readonly splits: Record<string, SplitInfo>;
  /**
   * The batch at position `batchIndex` of the deterministic order of `split`
   * (epochs continue past the end: batch `k` of epoch `e` is `e * perEpoch + k`).
   * Random access makes resume exact. Asynchronous so that sources can decode
   * files (JPEG, PNG) off the main thread while the previous step computes.
   */
  batch(split: string, batchIndex: number, options: BatchOptions): Promise<Batch>;
  /** Number of batches per epoch for `split` under `options`. */
  batchesPerEpoch(split: string, options: BatchOptions): number;
  /** Releases memory held by the source. */
  dispose(): void;
}
