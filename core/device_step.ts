/**
 * One optimiser step computed on the device, for the trainer on WebGPU with
 * novalab's kernels: every micro-batch's forward, losses and gradients, their
 * average, clipping's factor, the step report (`core/step_guard.ts`), the
 * fused update gated by it, the modules' post-step hooks and the weight
 * average's update — no read of a
 * device value in between, so the step is one stretch of GPU work.
 *
 * That makes it replayable (`core/replayable_step.ts`): with `replay`, the
 * step is recorded once and later steps are issued without running tfjs. Its
 * inputs are the previous report and each micro-batch's images and labels;
 * its host inputs the captions and the step number (the learning rate is a
 * function of it); its seeds the micro-steps' (`deriveSeed(seed, "step",
 * step, micro)`), from which every random draw of the graph derives. A node
 * that reads `ctx.step` while the step is recorded keeps it from replaying.
 *
 * @module
 */
import { envIs } from "./env.ts";
import * as tf from "@tensorflow/tfjs";
import { clipScale } from "./clip_grad.ts";
import { deriveSeed } from "./rng.ts";
import type { Batch, NodeValue } from "./types.ts";
import type { Tensor } from "./tensor.ts";
import { stepGuard } from "./step_guard.ts";
import { ReplayableStep, type ReplayStats } from "./replayable_step.ts";
import { stepContext, type StepParts } from "./step_parts.ts";
import { stepGradients } from "./step_gradients.ts";

/** Environment switch: `0` runs every device step as written (default: recorded and replayed). */
export const STEP_REPLAY_ENV = "NOVALAB_STEP_REPLAY";

/** Whether the trainer replays its steps: yes unless `NOVALAB_STEP_REPLAY=0`. */
export function stepReplayWanted(): boolean {
  return !envIs(STEP_REPLAY_ENV, "0");
}

/** The batch's graph values with `image` and `label` given as tensors. */
function values(batch: Batch, image: Tensor, label: Tensor): Map<string, NodeValue> {
  return new Map<string, NodeValue>([
    ["batch.image", image],
    ["batch.caption", batch.caption],
    ["batch.label", label],
  ]);
}

/** The device step, replayed once it is known to replay (with `replay`). */
export class DeviceStep {
  #parts: StepParts;
  #replay: ReplayableStep | null;
  #current: {
    step: number;
    batches: Batch[];
    info: { step: number };
    captions: string[];
  } | null = null;

  /** Computes steps from `parts`; with `replay`, records and replays them. */
  constructor(parts: StepParts, replay: boolean) {
    this.#parts = parts;
    this.#replay = replay ? new ReplayableStep((inputs) => this.#compute(inputs)) : null;
  }

  /** Where replaying stands (`null` without `replay`). */
  get replayStats(): ReplayStats | null {
    return this.#replay?.stats ?? null;
  }

  /**
   * Runs step `step` on `batches` (one per micro-batch) after the step whose
   * report is `previous`; returns the new report. Disposes nothing it was given.
   */
  run(step: number, batches: Batch[], previous: Tensor): Tensor {
    const labels = batches.map((b) => tf.tensor1d(b.label, "int32"));
    const info = { step };
    // The gradient cache's losses read the micro-batches' captions joined: one more host input,
    // so a replayed step's caption groups find theirs.
    const captions = batches.flatMap((b) => b.caption);
    this.#current = { step, batches, info, captions };
    const inputs = [previous, ...batches.flatMap((b, m) => [b.image, labels[m]!])];
    const seeds = batches.map((_, m) => deriveSeed(this.#parts.seed, "step", step, m));
    try {
      const [report] = this.#replay
        ? this.#replay.run(inputs, {
          seeds,
          inputs: [info, captions, ...batches.map((b) => b.caption)],
        })
        : this.#compute(inputs);
      return report!;
    } finally {
      tf.dispose(labels);
      this.#current = null;
    }
  }

  #compute(inputs: Tensor[]): Tensor[] {
    const { step, batches, info, captions } = this.#current!;
    const parts = this.#parts;
    const { config, optimizer, graph } = parts;
    const micro = batches.map((batch, m) => ({
      values: values(batch, inputs[1 + 2 * m]!, inputs[2 + 2 * m]!),
      ctx: stepContext(
        step,
        parts.seed,
        m,
        { updates: () => optimizer.step, total: config.steps },
        graph.phaseStart(step),
      ),
    }));
    const { grads, losses } = stepGradients(parts, micro, captions);
    const clipped = clipScale(grads, config.clip_grad_norm || undefined);
    const report = stepGuard({
      losses,
      norm: clipped.norm,
      previous: inputs[0]!,
      scale: clipped.scale,
    });
    // The update and running statistics read the report's gate on the device; the rate is a
    // function of the step, so a replay follows the schedule.
    const rate = (_t: number, host: { input<T>(x: T): T }) =>
      parts.learningRate(host.input(info).step);
    optimizer.apply(grads, rate, undefined, report);
    graph.afterStep(report, { updates: () => optimizer.step, total: config.steps });
    // The average's decay follows the optimiser's count, which a replay advances too.
    parts.average?.update(() => optimizer.step, report);
    for (const g of grads.values()) g.dispose();
    tf.dispose([clipped.norm, ...(clipped.scale ? [clipped.scale] : []), losses]);
    return [report];
  }

  /** Lends the replayed step's temporaries to other device work until the next step. */
  lend(): void {
    this.#replay?.lend();
  }

  /** Gives back what a replay holds. */
  dispose(): void {
    this.#replay?.dispose();
  }
}
