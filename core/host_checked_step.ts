/**
 * The training step of the host-checked backends (WASM, the CPU, tfjs's
 * stock kernels): the step's gradients (`core/step_gradients.ts`), its report
 * read on the host, then the update when the report says so. The device form,
 * replayable, is `core/device_step.ts`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { clipScale } from "./clip_grad.ts";
import { batchValues } from "./graph.ts";
import { stepContext, type StepParts } from "./step_parts.ts";
import { stepGradients } from "./step_gradients.ts";
import { decodeStepReport, stepGuard } from "./step_guard.ts";
import type { Batch } from "./types.ts";
import type { Tensor } from "./tensor.ts";

/**
 * One optimiser step with its report read on the host before the update
 * (WASM, the CPU, tfjs's stock kernels: there gating every tensor on the device
 * costs more than reading the report first, which is immediate). Returns the
 * report, its values and whether the update was applied.
 */
export async function hostCheckedStep(
  parts: StepParts,
  at: { step: number; batches: Batch[]; previous: Tensor; lr: number },
): Promise<{ report: Tensor; applied: boolean; read: ArrayLike<number> }> {
  const { step, batches, previous, lr } = at;
  const progress = { updates: () => parts.optimizer.step, total: parts.config.steps };
  const micro = batches.map((batch, m) => ({
    values: batchValues(batch),
    ctx: stepContext(step, parts.seed, m, progress, parts.graph.phaseStart(step)),
  }));
  let stepped: { grads: Map<string, Tensor>; losses: Tensor };
  try {
    stepped = stepGradients(parts, micro);
  } finally {
    tf.dispose(micro.map(({ values }) => values.get("batch.label") as Tensor));
  }
  const { grads, losses } = stepped;
  const { config } = parts;
  // The norm for the metrics, and clipping's factor, which the optimiser applies.
  const clipped = clipScale(grads, config.clip_grad_norm || undefined);
  const report = stepGuard({ losses, norm: clipped.norm, previous, scale: clipped.scale });
  const read = await report.data();
  const applied = decodeStepReport(read).ok;
  if (applied) {
    parts.optimizer.apply(grads, lr, clipped.scale ?? undefined);
    parts.graph.afterStep(undefined, {
      updates: () => parts.optimizer.step,
      total: config.steps,
    });
    parts.average?.update(() => parts.optimizer.step);
  }
  for (const g of grads.values()) g.dispose();
  tf.dispose([clipped.norm, ...(clipped.scale ? [clipped.scale] : []), losses]);
  return { report, applied, read };
}
