/**
 * The `train:` section of a recipe, as the trainer consumes it.
 *
 * @module
 */

/** Optimiser settings (`train.optimizer`). */
export interface OptimizerConfig {
  /** Only `adamw` for now. */
  kind: "adamw";
  /** Peak learning rate. */
  lr: number;
  /** Decoupled weight decay (not applied to biases, norms, scales, positions). */
  weight_decay: number;
  /** Adam β1, β2. */
  betas: [number, number];
  /** Adam ε. */
  eps: number;
}

/** Learning-rate schedule settings (`train.schedule`). */
export interface ScheduleConfig {
  /** `constant` or `warmup_cosine`. */
  kind: "constant" | "warmup_cosine";
  /** Linear warm-up steps. */
  warmup: number;
  /** Final learning rate as a fraction of the peak. */
  min_lr_ratio: number;
}

/** The `train:` section. */
export interface TrainConfig {
  /** Optimiser steps. */
  steps: number;
  /** Samples per micro-batch. */
  batch: number;
  /** Micro-batches per optimiser step (gradient accumulation). */
  accumulate: number;
  /** Optimiser. */
  optimizer: OptimizerConfig;
  /** Learning-rate schedule. */
  schedule: ScheduleConfig;
  /** Clip gradients to this global L2 norm (none when absent). */
  clip_grad_norm?: number | undefined;
  /** Write a metrics line every this many steps. */
  log_every: number;
  /** Save a checkpoint every this many steps (and at the end). */
  checkpoint_every: number;
}
