/**
 * The training step, read in phases: data → forward → losses → backward →
 * clip → guard → update → clamps → metrics. Owns the optimiser; the graph
 * owns the variables.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { clipScale } from "./clip_grad.ts";
import { addAll } from "./ops.ts";
import { lossReferences, type LossSpec } from "./graph_spec.ts";
import { batchValues, disposeValues } from "./graph.ts";
import type { CompiledGraph } from "./graph_run.ts";
import { AdamW } from "./optim.ts";
import { deriveSeed } from "./rng.ts";
import { learningRate } from "./schedule.ts";
import type { TrainConfig } from "./train_config.ts";
import type { Batch, DataSource, Parameter } from "./types.ts";
import type { Tensor } from "./tensor.ts";
import { submitPendingWork } from "./webgpu_device.ts";

/** What one optimiser step measured. */
export interface StepMetrics {
  /** 0-based step index. */
  step: number;
  /** Weighted total loss (mean over micro-batches). */
  loss: number;
  /** Unweighted loss terms by name (mean over micro-batches); terms of weight 0 are absent. */
  terms: Record<string, number>;
  /** Learning rate used. */
  lr: number;
  /** Global gradient norm before clipping. */
  grad_norm: number;
  /** Samples processed per second in this step. */
  images_per_s: number;
  /** Wall time of the step in milliseconds. */
  ms: number;
  /** Milliseconds of the step spent waiting for data (0 when prefetching keeps up). */
  data_ms: number;
}

/** Thrown when a step produces a non-finite loss or gradient; parameters are untouched. */
export class NonFiniteError extends Error {
  /** Creates the report for the failed step. */
  constructor(readonly step: number, readonly report: Record<string, unknown>) {
    super(
      `non-finite values at step ${step}: ${JSON.stringify(report)}. ` +
        `The update was not applied; parameters are those after step ${step - 1}. ` +
        `Try a lower learning rate, a longer warm-up, or train.clip_grad_norm.`,
    );
    this.name = "NonFiniteError";
  }
}

/** Trains a compiled graph on a data source. */
export class Trainer {
  /** The optimiser (its state goes into checkpoints). */
  readonly optimizer: AdamW;
  readonly #params: Parameter[];
  readonly #byVariable: Map<string, string>;
  readonly #prefetched = new Map<number, Promise<Batch>>();
  /** Nodes the active loss terms read: only their ancestors run in a training step. */
  readonly #lossTargets: string[];
  /** Names of the loss terms computed each step (those with a weight other than 0). */
  readonly #active: Set<string>;
  /**
   * Loss terms with weight exactly 0 (an ablation switched them off) and the
   * nodes that only they read: neither runs in a training step.
   */
  readonly skipped: { terms: string[]; nodes: string[] };

  /** Creates the optimiser over every trainable parameter of the training graph. */
  constructor(
    readonly graph: CompiledGraph,
    readonly source: DataSource,
    readonly options: { config: TrainConfig; seed: number },
  ) {
    const { optimizer } = options.config;
    this.#params = graph.parameters();
    this.#byVariable = new Map(this.#params.map((p) => [p.variable.name, p.name]));
    const active = graph.spec.losses.filter((l) => l.weight !== 0);
    if (active.length === 0) {
      const names = graph.spec.losses.map((l) => `"${l.name}"`).join(", ");
      throw new Error(
        `every loss term has weight 0 (${names}): nothing to train; ` +
          `expected at least one losses[i].weight other than 0`,
      );
    }
    const targets = (specs: LossSpec[]) =>
      specs.flatMap((l) => lossReferences(l)).filter((r) => !r.startsWith("batch."));
    this.#active = new Set(active.map((l) => l.name));
    this.#lossTargets = targets(active);
    const running = graph.ancestors(this.#lossTargets);
    const all = graph.ancestors(targets(graph.spec.losses));
    this.skipped = {
      terms: graph.spec.losses.filter((l) => l.weight === 0).map((l) => l.name),
      nodes: graph.order.map((n) => n.name).filter((n) => all.has(n) && !running.has(n)),
    };
    this.optimizer = new AdamW(this.#params, {
      beta1: optimizer.betas[0],
      beta2: optimizer.betas[1],
      eps: optimizer.eps,
      weightDecay: optimizer.weight_decay,
    });
  }

  /** The learning rate of step `step` under the recipe's schedule. */
  learningRate(step: number): number {
    const { optimizer, schedule, steps } = this.options.config;
    return learningRate(step, {
      base: optimizer.lr,
      kind: schedule.kind,
      warmup: Math.min(schedule.warmup, Math.max(0, steps - 1)),
      total: steps,
      minRatio: schedule.min_lr_ratio,
    });
  }

  /** Starts loading micro-batch `batchIndex` (random access, so the result is order-independent). */
  #fetch(batchIndex: number): Promise<Batch> {
    const pending = this.#prefetched.get(batchIndex);
    if (pending) {
      this.#prefetched.delete(batchIndex);
      return pending;
    }
    const { config, seed } = this.options;
    return this.source.batch("train", batchIndex, {
      batchSize: config.batch,
      seed,
      shuffle: true,
      dropLast: true,
    });
  }

  /** Forward + backward of one micro-batch; returns summed-into gradients and losses. */
  #microStep(step: number, micro: number, batch: Batch, sums: Map<string, Tensor>): Tensor {
    const { seed } = this.options;
    const values = batchValues(batch);
    const ctx = { training: true, step, seed: deriveSeed(seed, "step", step, micro) };
    let kept: Tensor | undefined;
    const { value, grads } = tf.variableGrads(() => {
      this.graph.forward(values, ctx, this.#lossTargets);
      const { total, terms } = this.graph.losses(values, ctx, this.#active);
      // A fresh tensor, not a clone: clones made under the gradient tape lose
      // their data on tfjs-backend-webgpu 4.22 once the tape is released.
      kept = tf.keep(tf.stack([total, ...terms.values()]));
      return total;
    }, this.#params.map((p) => p.variable));
    value.dispose();
    disposeValues(values, batch);
    for (const [varName, g] of Object.entries(grads)) {
      const name = this.#byVariable.get(varName)!;
      const prev = sums.get(name);
      sums.set(name, prev ? tf.tidy(() => tf.add(prev, g)) : g);
      if (prev) {
        prev.dispose();
        g.dispose();
      }
    }
    return kept!;
  }

  /** Runs optimiser step `step` (0-based) and returns its metrics. */
  async step(step: number): Promise<StepMetrics> {
    const started = performance.now();
    const { config } = this.options;
    const sums = new Map<string, Tensor>();
    const lossSums: Tensor[] = [];
    let dataMs = 0;
    for (let micro = 0; micro < config.accumulate; micro++) {
      const batchIndex = step * config.accumulate + micro;
      const waitStart = performance.now();
      const batch = await this.#fetch(batchIndex);
      dataMs += performance.now() - waitStart;
      // Prefetch: the next micro-batch loads (decodes) while this one computes.
      this.#prefetched.set(batchIndex + 1, this.#fetch(batchIndex + 1));
      lossSums.push(this.#microStep(step, micro, batch, sums));
    }
    const grads = this.#averaged(sums, config.accumulate);
    // The norm for the metrics, and clipping's factor, which the optimiser applies.
    const clipped = clipScale(grads, config.clip_grad_norm || undefined);
    const lossMean = tf.tidy(() => tf.div(addAll(lossSums), config.accumulate));
    const [losses, normValue] = await Promise.all([lossMean.data(), clipped.norm.data()]);
    lossSums.forEach((t) => t.dispose());
    lossMean.dispose();
    const lr = this.learningRate(step);
    const termNames = [...this.#active];
    const terms = Object.fromEntries(termNames.map((n, i) => [n, losses[i + 1]!]));
    const metrics = { step, loss: losses[0]!, terms, lr, grad_norm: normValue[0]! };
    const release = () => {
      for (const g of grads.values()) g.dispose();
      clipped.norm.dispose();
      clipped.scale?.dispose();
    };
    if (![metrics.loss, metrics.grad_norm, ...Object.values(terms)].every(Number.isFinite)) {
      release();
      throw new NonFiniteError(step, metrics);
    }
    this.optimizer.apply(grads, lr, clipped.scale ?? undefined);
    this.graph.afterStep();
    release();
    // WebGPU: the update starts on the device now rather than when the next step fills a submit.
    submitPendingWork();
    const ms = performance.now() - started;
    const images = config.batch * config.accumulate;
    return { ...metrics, images_per_s: (images / ms) * 1000, ms, data_ms: dataMs };
  }

  /** The mean gradient over `accumulate` micro-batches (the sums themselves when 1). */
  #averaged(sums: Map<string, Tensor>, accumulate: number): Map<string, Tensor> {
    if (accumulate === 1) return sums;
    const names = [...sums.keys()];
    const averaged = tf.tidy(() => names.map((k) => tf.div(sums.get(k)!, accumulate)));
    for (const g of sums.values()) g.dispose();
    return new Map(names.map((k, i) => [k, averaged[i]!]));
  }

  /** Releases batches still being prefetched. */
  async close(): Promise<void> {
    const pending = [...this.#prefetched.values()];
    this.#prefetched.clear();
    for (const batch of await Promise.allSettled(pending)) {
      if (batch.status === "fulfilled") batch.value.image.dispose();
    }
  }
}
