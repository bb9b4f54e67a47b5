/**
 * The resolved recipe: plain data after `extends`, `--set`, `${var}`
 * interpolation and validation, with every default applied. Hand-written
 * interfaces (zod objects stay private; `schema.ts` checks at compile time
 * that its parsed output is assignable to these).
 *
 * @module
 */

/** Compute backend: `auto` picks WebGPU, then WASM, then CPU. */
export type BackendChoice = "auto" | "webgpu" | "wasm" | "cpu";

/**
 * Matmul operand precision: `fp32`, or `f16` (operands rounded to half
 * precision in novalab's WebGPU matmul, fp32 products and sums; needs the
 * adapter's `shader-f16`).
 */
export type Precision = "fp32" | "f16";

/** Fields of a batch that graph inputs can read (`batch.<field>`). */
export const BATCH_FIELDS: readonly string[] = ["image", "caption", "label"];

/** Where a node's starting parameters come from (`nodes.<name>.init_from`). */
export interface NodeInit {
  /** A run directory or a `.safetensors` file. */
  path: string;
  /** The node whose tensors are read (default: the node's own name; `timm`: no prefix). */
  node?: string;
  /** `timm`: PyTorch layouts with timm's names, converted on reading (default novalab's). */
  layout?: "novalab" | "timm";
  /** Per-channel pixel mean the weights expect, folded into the patch embedding (with `std`). */
  mean?: number[];
  /** Per-channel pixel std the weights expect (with `mean`). */
  std?: number[];
  /** Read RGB weights into a one-channel node (the patch embedding summed over channels). */
  grey?: boolean;
  /**
   * Resample position embeddings of another (square) patch grid to the node's:
   * `bilinear` (`resample: true`), or `bicubic` as timm's `resample_abs_pos_embed`
   * (antialiased).
   */
  resample?: "bilinear" | "bicubic";
}

/** A graph node (`nodes.<name>`). */
export interface ResolvedNode {
  /** Module kind (a key of the module registry). */
  kind: string;
  /** Input references in recipe order: node names or `batch.<field>` (`[]` when none). */
  input: string[];
  /** `train`: exists only in the training graph; `all`: also at inference. */
  phase: "train" | "all";
  /** Trained parameters to start from (`init_from:`); absent: the module's own initialisation. */
  initFrom?: NodeInit;
  /** Parameters kept fixed during training (`freeze: true`; default false). */
  freeze: boolean;
  /** Parameters kept fixed for steps before this one, then trained (`freeze: { until }`). */
  frozenUntil?: number;
  /** Updates over which the node's rate ramps up once it trains (`freeze: { warmup }`). */
  unfreezeWarmup?: number;
  /** Learning-rate multiplier of the node's parameters (`lr_scale`); absent: 1. */
  lrScale?: number;
  /** Layer-wise learning-rate decay of the node's layers (`layer_decay`); absent: none. */
  layerDecay?: number;
  /** The module's own parameters, validated by its registry schema (defaults applied). */
  params: Record<string, unknown>;
}

/** A weighted loss term (`losses[i]`). */
export interface ResolvedLoss {
  /** Loss kind (a key of the loss registry). */
  kind: string;
  /** Unique name (default: the kind, or `<kind>_<index>` when another entry has that name). */
  name: string;
  /**
   * Role → reference(s). Roles declared with `[]` by the term always hold a
   * list; others a single reference.
   */
  inputs: Record<string, string | string[]>;
  /** Weight in the total loss (default 1; arithmetic such as `1 - 0.05` evaluated). */
  weight: number;
  /** The term's own parameters, validated by its registry schema. */
  params: Record<string, unknown>;
}

/** The data source (`data:`). */
export interface ResolvedData {
  /** Data-source kind (a key of the source registry). */
  kind: string;
  /** The source's parameters, validated by its registry schema. */
  params: Record<string, unknown>;
}

/** An evaluator (`eval[i]`). */
export interface ResolvedEval {
  /** Evaluator kind (a key of the evaluator registry). */
  kind: string;
  /** Unique name (default: the kind, or `<kind>_<index>` when another entry has that name). */
  name: string;
  /** The evaluator's parameters, validated by its registry schema. */
  params: Record<string, unknown>;
  /** Its own data source (`eval[i].data`: transfer evaluation); absent: the recipe's `data:`. */
  data?: ResolvedData;
}

/** AdamW settings (`train.optimizer`). */
export interface OptimizerConfig {
  /** Only `adamw` (decoupled weight decay) for now. */
  kind: "adamw";
  /** Peak learning rate (> 0). */
  lr: number;
  /** Decoupled weight decay (>= 0, default 0). */
  weight_decay: number;
  /** Adam betas, each in [0, 1] (default `[0.9, 0.999]`). */
  betas: [number, number];
  /** Adam epsilon (> 0, default 1e-8). */
  eps: number;
}

/** Learning-rate schedule (`train.schedule`; a bare kind string is accepted). */
export interface ScheduleConfig {
  /** `constant` or `warmup_cosine` (both with linear warm-up). */
  kind: "constant" | "warmup_cosine";
  /** Linear warm-up steps (default 0). */
  warmup: number;
  /** Final learning rate as a fraction of `lr` for cosine decay (default 0). */
  min_lr_ratio: number;
}

/** The weight average of a run (`train.ema`, `core/weight_average.ts`). */
export interface EmaConfig {
  /** Share of the old average kept at each update, in [0, 1). */
  decay: number;
  /** Ramp the decay as `min(decay, n / (n + 9))` (default false). */
  warmup: boolean;
  /** Adam-style bias correction: decay `1 − (1 − d)/(1 − dⁿ)` at update `n` (absent: false). */
  debias?: boolean;
  /** Which weights evaluation sees (default `averaged`; `both` adds `<name>_raw` results). */
  evaluate: "averaged" | "raw" | "both";
}

/** Training loop settings (`train:`). */
export interface TrainConfig {
  /** Optimiser steps. */
  steps: number;
  /** Samples per micro-batch. */
  batch: number;
  /** Micro-batches per optimiser step (default 1). */
  accumulate: number;
  /**
   * GradCache: the losses see the whole step's micro-batches at once
   * (`core/step_gradients.ts`; absent: each micro-batch's own, averaged).
   */
  gradient_cache?: boolean;
  /** Optimiser settings. */
  optimizer: OptimizerConfig;
  /** Schedule (default constant, no warm-up). */
  schedule: ScheduleConfig;
  /** Clip gradients to this global norm (absent: no clipping). */
  clip_grad_norm?: number;
  /** Weight average (absent: none). */
  ema?: EmaConfig;
  /** Log metrics every this many steps (default 10). */
  log_every: number;
  /** Checkpoint every this many steps (default 0: only at the end). */
  checkpoint_every: number;
}

/** A fully resolved, validated recipe. */
export interface ResolvedRecipe {
  /** Run name (default: the recipe file's stem). */
  name: string;
  /** Seed of data order, augmentation, initialisation (default 0). */
  seed: number;
  /** Requested backend (default `auto`). */
  backend: BackendChoice;
  /** Matmul operand precision (default `fp32`). */
  precision: Precision;
  /** The vars after interpolation (informational; already substituted everywhere). */
  vars: Record<string, unknown>;
  /** Data source. */
  data: ResolvedData;
  /** Graph nodes by name, in recipe order. */
  nodes: Record<string, ResolvedNode>;
  /** Loss terms, in recipe order (at least one). */
  losses: ResolvedLoss[];
  /** Training settings. */
  train: TrainConfig;
  /** Evaluators, in recipe order (default none). */
  eval: ResolvedEval[];
}
