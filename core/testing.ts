/**
 * Small real components for tests of the core: an in-memory data source of
 * random images with class captions, registries holding the built-ins, and
 * the small diverging graph and training settings of the trainer tests.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { LossFactory, ModuleFactory } from "./components.ts";
import { Registry } from "./registry.ts";
import type { Batch, BatchOptions, DataSource } from "./types.ts";
import { modelEntries } from "../models/entries.ts";
import { predictionLoss } from "../losses/prediction.ts";
import type { Tensor } from "./tensor.ts";
import type { GraphSpec } from "./graph_spec.ts";
import type { TrainConfig } from "./train_config.ts";

/**
 * An in-memory labelled image source: `size` random `[H, W, C]` images, label
 * `i % classes`, caption `"digit <label>"`. Deterministic for a seed.
 */
export class MemorySource implements DataSource {
  /** Source name. */
  readonly name = "memory";
  /** Class names `c0`, `c1`, …. */
  readonly classNames: string[];
  /** `[H, W, C]`. */
  readonly imageShape: [number, number, number];
  /** `train` and `test`, both of `size` samples. */
  readonly splits: Record<string, { size: number }>;
  readonly #pixels: Float32Array;

  /** Creates `size` samples of shape `shape` over `classes` classes. */
  constructor(
    options: { size: number; shape: [number, number, number]; classes: number; seed?: number },
  ) {
    this.imageShape = options.shape;
    this.classNames = Array.from({ length: options.classes }, (_, i) => `c${i}`);
    this.splits = { train: { size: options.size }, test: { size: options.size } };
    let s = (options.seed ?? 1) >>> 0;
    const n = options.size * options.shape.reduce((a, b) => a * b, 1);
    this.#pixels = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      this.#pixels[i] = s / 2 ** 32;
    }
  }

  /** Batch `batchIndex` in order (no shuffling; wraps around). */
  batch(split: string, batchIndex: number, options: BatchOptions): Promise<Batch> {
    return Promise.resolve(this.batchNow(split, batchIndex, options));
  }

  /** {@link MemorySource.batch}, synchronously. */
  batchNow(split: string, batchIndex: number, options: BatchOptions): Batch {
    const size = this.splits[split]!.size;
    const indices = Array.from(
      { length: options.batchSize },
      (_, i) => (batchIndex * options.batchSize + i) % size,
    );
    const per = this.imageShape.reduce((a, b) => a * b, 1);
    const data = new Float32Array(indices.length * per);
    indices.forEach((idx, i) =>
      data.set(this.#pixels.subarray(idx * per, (idx + 1) * per), i * per)
    );
    const label = Int32Array.from(indices, (i) => i % this.classNames.length);
    return {
      image: tf.tensor4d(data, [indices.length, ...this.imageShape]),
      caption: Array.from(label, (l) => `digit ${this.classNames[l]}`),
      label,
      index: Int32Array.from(indices),
    };
  }

  /** Batches per epoch. */
  batchesPerEpoch(split: string, options: BatchOptions): number {
    const size = this.splits[split]!.size;
    return options.dropLast
      ? Math.floor(size / options.batchSize)
      : Math.ceil(size / options.batchSize);
  }

  /** Nothing to release. */
  dispose(): void {}
}

/**
 * Registries for core tests: the real model entries, a `caption_code` text
 * node (one-hot of the caption's last character code mod 8, no file access)
 * and the `prediction` (MSE) loss.
 */
export function testRegistries(): {
  modules: Registry<ModuleFactory>;
  losses: Registry<LossFactory>;
} {
  const modules = new Registry<ModuleFactory>("module");
  for (const e of modelEntries) modules.register(e);
  modules.register({
    kind: "caption_code",
    summary: "test: caption → one-hot of its last character code mod 8",
    schema: z.strictObject({}),
    create: () => ({
      parameters: [],
      forward: (inputs) =>
        tf.oneHot(Array.from(inputs[0] as string[], (s) => s.charCodeAt(s.length - 1) % 8), 8)
          .toFloat(),
      dispose() {},
    }),
  });
  const losses = new Registry<LossFactory>("loss");
  losses.register({
    kind: "prediction",
    summary: "MSE",
    schema: z.strictObject({}),
    create: () => ({
      roles: ["pred", "target"],
      fn: (i) => predictionLoss(i.pred as Tensor, i.target as Tensor),
    }),
  });
  return { modules, losses };
}

/**
 * {@linkcode testRegistries} plus a `poison` module: the identity, but its
 * input times NaN in training from step `at` on (a run that diverges).
 */
export function poisonRegistries(): ReturnType<typeof testRegistries> {
  const r = testRegistries();
  r.modules.register({
    kind: "poison",
    summary: "test: identity, but NaN from step `at` on",
    schema: z.strictObject({ at: z.number() }),
    create: (params: { at: number }) => ({
      parameters: [],
      forward: (inputs, ctx) =>
        ctx.training && ctx.step >= params.at
          ? tf.mul(inputs[0] as Tensor, NaN)
          : (inputs[0] as Tensor),
      dispose() {},
    }),
  });
  return r;
}

/**
 * A small trainable graph for {@linkcode poisonRegistries}: ViT → MLP head
 * (`head`, default one GELU layer of 8, no norm) → `poison` (NaN from step
 * `poisonAt`) → MSE to the caption code.
 */
export function poisonedSpec(
  poisonAt: number,
  head: { layers: number[]; norm: "none" | "batch" } = { layers: [8], norm: "none" },
): GraphSpec {
  return {
    nodes: [
      {
        name: "image",
        kind: "vit",
        inputs: ["batch.image"],
        phase: "all",
        params: { preset: "tiny", patch: 4, dim: 16, depth: 1, heads: 2 },
      },
      {
        name: "raw",
        kind: "mlp",
        inputs: ["image"],
        phase: "all",
        params: { ...head, activation: "gelu", bias: true },
      },
      { name: "pred", kind: "poison", inputs: ["raw"], phase: "all", params: { at: poisonAt } },
      { name: "text", kind: "caption_code", inputs: ["batch.caption"], phase: "all", params: {} },
    ],
    losses: [{
      name: "mse",
      kind: "prediction",
      inputs: { pred: "pred", target: "text" },
      weight: 1,
      params: {},
    }],
  };
}

/** Training settings of the trainer tests: 20 steps of 8, AdamW, warm-up cosine, clipping at 1. */
export function testTrainConfig(over: Partial<TrainConfig> = {}): TrainConfig {
  return {
    steps: 20,
    batch: 8,
    accumulate: 1,
    optimizer: { kind: "adamw", lr: 1e-2, weight_decay: 0.05, betas: [0.9, 0.999], eps: 1e-8 },
    schedule: { kind: "warmup_cosine", warmup: 2, min_lr_ratio: 0 },
    clip_grad_norm: 1,
    log_every: 1,
    checkpoint_every: 0,
    ...over,
  };
}
