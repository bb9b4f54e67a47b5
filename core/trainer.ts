/**
 * The training step, read in phases: data → forward → losses → backward →
 * clip → guard → update → clamps → metrics. Owns the optimiser; the graph
 * owns the variables. On WebGPU with novalab's kernels a step is one stretch
 * of device work gated by its report (`core/device_step.ts`: recorded and
 * replayed unless the `replay` option is false or `NOVALAB_STEP_REPLAY=0`); elsewhere
 * the report is read before the update (`core/step_parts.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { activeLosses } from "./active_losses.ts";
import type { CompiledGraph } from "./graph_run.ts";
import { AdamW } from "./optim.ts";
import { learningRate } from "./schedule.ts";
import type { TrainConfig } from "./train_config.ts";
import type { Batch, DataSource, Parameter } from "./types.ts";
import type { Tensor } from "./tensor.ts";
import { submitPendingWork } from "./webgpu_device.ts";
import { novalabKernelsActive } from "../kernels/install.ts";
import { healthyReport, reportMetrics } from "./step_guard.ts";
import { NonFiniteError, type PendingStep, type StepMetrics } from "./step_metrics.ts";
import { DeviceStep, stepReplayWanted } from "./device_step.ts";
import type { StepParts } from "./step_parts.ts";
import { hostCheckedStep } from "./host_checked_step.ts";
import type { ReplayStats } from "./replayable_step.ts";
import { TrainingPhases } from "./training_phases.ts";
import { BatchPrefetch } from "./batch_prefetch.ts";
import { WeightAverage } from "./weight_average.ts";

/** A recorded step: its report, the handle read back, the values' promise, whether it applied. */
interface RecordedStep {
  report: Tensor;
  handle: Tensor;
  values: Promise<ArrayLike<number>>;
  applied: boolean;
}

/** A step recorded on the device whose report is being read back. */
interface InFlight {
  step: number;
  started: number;
  dataMs: number;
  lr: number;
  /** A handle on the step's report, released once read. */
  report: Tensor;
  values: Promise<ArrayLike<number>>;
  /** When the report arrived on the host (`performance.now()`; 0 until then). */
  readyAt: number;
  /** Whether the optimiser counted the step (gated on the device, or checked first and finite). */
  applied: boolean;
}

export { NonFiniteError, type PendingStep, type StepMetrics } from "./step_metrics.ts";

/** Trains a compiled graph on a data source. */
export class Trainer {
  /** The optimiser (its state goes into checkpoints). */
  readonly optimizer: AdamW;
  /** The weight average of the trained parameters and the buffers (`train.ema`; checkpointed). */
  readonly average: WeightAverage | undefined;
  readonly #params: Parameter[];
  readonly #byVariable: Map<string, string>;
  readonly #batches: BatchPrefetch;
  /** Nodes the active loss terms read: only their ancestors run in a training step. */
  readonly #lossTargets: string[];
  /** Names of the loss terms computed each step (those with a weight other than 0). */
  readonly #active: Set<string>;
  /** The step's parts for the current phase (its `params`: those trained now). */
  #parts: StepParts;
  /** Where the trained set changes (`freeze: { until }`). */
  readonly #phases: TrainingPhases;
  #device: DeviceStep | undefined;
  #closedReplayStats: ReplayStats | null = null;
  /**
   * Loss terms with weight exactly 0 (an ablation switched them off) and the
   * nodes that only they read: neither runs in a training step.
   */
  readonly skipped: { terms: string[]; nodes: string[] };
  /** Steps recorded whose reports are being read, oldest first. */
  readonly #inFlight: InFlight[] = [];
  /** The last step's report: the next step's guard reads its `ok`. */
  #previous: Tensor | null = null;
  /** When the last step's report arrived (ms, `performance.now()`). */
  #lastReady = 0;

  /**
   * Creates the optimiser over every parameter of the training graph trained at
   * some step (a node frozen `until` a step has its moments from the start, as
   * PyTorch keeps every parameter of an optimiser; they stay zero until then).
   */
  constructor(
    readonly graph: CompiledGraph,
    readonly source: DataSource,
    readonly options: { config: TrainConfig; seed: number; replay?: boolean },
  ) {
    const { optimizer } = options.config;
    this.#params = graph.parameters();
    this.#phases = new TrainingPhases(graph);
    this.#batches = new BatchPrefetch(source, {
      batch: options.config.batch,
      accumulate: options.config.accumulate,
      seed: options.seed,
    });
    this.#byVariable = new Map(this.#params.map((p) => [p.variable.name, p.name]));
    const losses = activeLosses(graph);
    this.#active = losses.active;
    this.#lossTargets = losses.targets;
    this.skipped = losses.skipped;
    this.optimizer = new AdamW(this.#params, {
      beta1: optimizer.betas[0],
      beta2: optimizer.betas[1],
      eps: optimizer.eps,
      weightDecay: optimizer.weight_decay,
    });
    const { ema } = options.config;
    // Buffers too (batch norm's running statistics), as timm's ModelEmaV3: averaged weights
    // evaluated with the trained weights' statistics would not match them. Not momentum
    // teachers: they are averages already; nor queues of past features (`averaged: false`).
    const buffers = graph.buffers({ teachers: false }).filter((p) => p.averaged !== false);
    this.average = ema ? new WeightAverage([...this.#params, ...buffers], ema) : undefined;
    this.#parts = {
      graph,
      optimizer: this.optimizer,
      ...(this.average && { average: this.average }),
      params: graph.parameters(0),
      byVariable: this.#byVariable,
      lossTargets: this.#lossTargets,
      active: this.#active,
      config: options.config,
      seed: options.seed,
      learningRate: (step) => this.learningRate(step),
    };
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

  /** Where replaying the device step stands (`null` before the first device step or without replay). */
  get replayStats(): ReplayStats | null {
    return this.#phases.total(this.#device?.replayStats ?? this.#closedReplayStats);
  }

  /**
   * Before step `step`: where the trained set changes there (a node's
   * `freeze: { until }` ends), the step trains the new set — its gradients
   * reach the node — and the device step, recorded for the old set, is
   * dropped once the steps in flight have finished with it.
   */
  async #enterPhase(step: number): Promise<void> {
    const params = this.#phases.enter(step);
    if (!params) return;
    this.#parts = { ...this.#parts, params };
    if (!this.#device) return;
    await Promise.allSettled(this.#inFlight.map((entry) => entry.values));
    this.#phases.retire(this.#device.replayStats);
    this.#device.dispose();
    this.#device = undefined;
  }

  /**
   * Before other device work between steps (diagnostics): the replayed
   * step's temporaries go back to tfjs's pool for it to reuse, and the next
   * step takes them back (`ReplayableStep.lend`).
   */
  lendTemporaries(): void {
    this.#device?.lend();
  }

  /** Waits until the batches being prefetched are loaded (or failed; their step reports it). */
  async settlePrefetch(): Promise<void> {
    await this.#batches.settle();
  }

  /** Runs optimiser step `step` (0-based) and returns its metrics. */
  async step(step: number): Promise<StepMetrics> {
    return await (await this.begin(step)).metrics();
  }

  /**
   * Records optimiser step `step` (0-based) on the device — forward, backward,
   * gradient norm, the step guard, the update — and starts reading its report
   * back, without waiting for it: the host can record the next step while the
   * device runs this one (`core/train_loop.ts`). The update is gated on the
   * device by the report (`core/step_guard.ts`): a non-finite step, and any step
   * recorded after it before its metrics were read, changes nothing.
   */
  async begin(step: number): Promise<PendingStep> {
    const started = performance.now();
    await this.#enterPhase(step);
    const { batches, dataMs } = await this.#batches.step(step);
    const previous = this.#previous ?? healthyReport();
    const lr = this.learningRate(step);
    let recorded: RecordedStep;
    try {
      recorded = await this.#record(step, batches, previous, lr);
    } finally {
      for (const b of batches) b.image.dispose();
    }
    const { report, handle, values, applied } = recorded;
    this.#previous = report;
    previous.dispose();
    // WebGPU: the update starts on the device now rather than when the next step fills a submit.
    submitPendingWork();
    const entry: InFlight = {
      step,
      started,
      dataMs,
      lr,
      report: handle,
      values,
      readyAt: 0,
      applied,
    };
    // Runs before metrics() resumes: a step's time ends when its report arrives.
    values.then(() => (entry.readyAt = performance.now()), () => {});
    this.#inFlight.push(entry);
    return { step, metrics: () => this.#finish(entry) };
  }

  /**
   * Records the step: on WebGPU with novalab's kernels the whole step on the
   * device, its update gated by the report (`core/device_step.ts`), the report
   * read back in the background; elsewhere the report is read before the
   * update (immediate on WASM and the CPU, where gating every tensor costs more).
   */
  async #record(
    step: number,
    batches: Batch[],
    previous: Tensor,
    lr: number,
  ): Promise<RecordedStep> {
    if (novalabKernelsActive()) {
      this.#device ??= new DeviceStep(this.#parts, this.options.replay ?? stepReplayWanted());
      const report = this.#device.run(step, batches, previous);
      const handle = tf.clone(report);
      const values = handle.data();
      values.catch(() => {}); // read (and its error raised) by metrics()
      return { report, handle, values, applied: true };
    }
    const checked = await hostCheckedStep(this.#parts, { step, batches, previous, lr });
    const handle = tf.clone(checked.report);
    return {
      report: checked.report,
      handle,
      values: Promise.resolve(checked.read),
      applied: checked.applied,
    };
  }

  /** Reads an in-flight step's report: its metrics, or NonFiniteError. */
  async #finish(entry: InFlight): Promise<StepMetrics> {
    if (this.#inFlight[0] !== entry) {
      const oldest = this.#inFlight[0];
      throw new Error(
        `Trainer: metrics of step ${entry.step} read out of order or twice; ` +
          (oldest ? `step ${oldest.step} is the oldest in flight` : "no step is in flight"),
      );
    }
    let values: ArrayLike<number>;
    try {
      values = await entry.values;
    } finally {
      this.#inFlight.shift();
      entry.report.dispose();
    }
    // From the step's start, or from the previous report when the step was recorded before it.
    const ready = entry.readyAt || performance.now();
    const ms = Math.max(ready - Math.max(entry.started, this.#lastReady), 1e-3);
    this.#lastReady = ready;
    const { metrics, healthy } = reportMetrics(values, entry.step, entry.lr, [...this.#active]);
    if (!healthy) {
      await this.#abandonInFlight(entry);
      throw new NonFiniteError(entry.step, metrics);
    }
    const images = this.options.config.batch * this.options.config.accumulate;
    return { ...metrics, images_per_s: (images / ms) * 1000, ms, data_ms: entry.dataMs };
  }

  /**
   * After a non-finite step: the steps recorded after it were skipped on the
   * device too; their reads are dropped, the optimiser's count of all of them
   * taken back, and the guard starts healthy again.
   */
  async #abandonInFlight(failed: InFlight): Promise<void> {
    const later = this.#inFlight.splice(0);
    for (const entry of later) {
      await entry.values.catch(() => {});
      entry.report.dispose();
    }
    this.optimizer.undoSteps([failed, ...later].filter((e) => e.applied).length);
    this.#previous?.dispose();
    this.#previous = healthyReport();
  }

  /**
   * Releases batches still being prefetched, reads still in flight and the
   * guard's report. The optimiser and the weight average stay (a checkpoint or
   * an evaluation reads them after training): dispose them when done.
   */
  async close(): Promise<void> {
    for (const entry of this.#inFlight.splice(0)) {
      await entry.values.catch(() => {});
      entry.report.dispose();
    }
    this.#previous?.dispose();
    this.#previous = null;
    this.#closedReplayStats = this.#device?.replayStats ?? this.#closedReplayStats;
    this.#device?.dispose();
    this.#device = undefined;
    await this.#batches.close();
  }
}
