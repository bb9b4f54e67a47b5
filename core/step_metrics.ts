/**
 * What a training step reports: its metrics, the error a non-finite step
 * raises, and the handle of a step recorded on the device whose metrics are
 * still on their way (`core/trainer.ts` `Trainer.begin`).
 *
 * @module
 */

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
  /**
   * Wall time of the step in milliseconds, up to the arrival of its report on
   * the host: from its start, or from the previous step's report when it was
   * recorded while that step still ran (so the times of overlapped steps add up
   * to the wall time).
   */
  ms: number;
  /** Milliseconds of the step spent waiting for data (0 when prefetching keeps up). */
  data_ms: number;
}

/** A step recorded on the device whose metrics are still on their way back. */
export interface PendingStep {
  /** 0-based step index. */
  readonly step: number;
  /**
   * The step's metrics once its report is read. Call it once per step, in step
   * order. Rejects with {@linkcode NonFiniteError} when the step was non-finite:
   * then neither it nor any step recorded after it changed anything.
   */
  metrics(): Promise<StepMetrics>;
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
