/**
 * The in-place update every moving average of weights shares: each average
 * `e` moves towards its source `p` by a factor `f = 1 − decay` read on the
 * device, `e ← e + (p − e)·f` (PyTorch's `lerp_`, with its `p − (p − e)·(1 − f)` from f = 0.5 on, exact at 1), and not at all where a
 * step report says the step was skipped. Used by the run's weight average
 * (`train.ema`, `core/weight_average.ts`) and by momentum teachers (`kind:
 * ema` nodes, `core/momentum_teacher.ts`).
 *
 * On WebGPU with novalab's kernels one dispatch updates up to 16 averages in
 * place (`kernels/weight_average.ts`), so the update can be recorded and
 * replayed with the step; elsewhere three ops per average.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Tensor, Variable } from "./tensor.ts";
import { novalabKernelsActive } from "../kernels/install.ts";
import { WEIGHT_AVERAGE_GROUP } from "../kernels/weight_average.ts";
import { averageGroupSlots } from "../kernels/weight_average_program.ts";
import { groupParameters } from "../kernels/adamw_state.ts";
import { ownBuffer } from "../kernels/in_place.ts";

/** One average and the variable it follows (same shape). */
export interface AveragePair {
  /** The average, written in place. */
  average: Variable;
  /** What it moves towards (read only; a variable, or a batch statistic). */
  source: Tensor;
}

/**
 * Moves every average towards its source: `e ← e + (p − e)·factor`.
 *
 * @param pairs The averages and their sources.
 * @param factor One float32 element, `1 − decay` (a host value, so a replayed
 *   step computes it afresh). Not disposed.
 * @param guard A step report (`core/step_guard.ts`): where its `ok` is 0 the
 *   averages stay as they are. Not disposed.
 */
export function moveAverages(pairs: readonly AveragePair[], factor: Tensor, guard?: Tensor): void {
  if (pairs.length === 0) return;
  if (novalabKernelsActive()) fused(pairs, factor, guard);
  else composed(pairs, factor, guard);
}

/** WebGPU: one in-place dispatch per group of averages. */
function fused(pairs: readonly AveragePair[], factor: Tensor, guard?: Tensor): void {
  const limits = (tf.backend() as Partial<WebGPUBackend>).device?.limits;
  const slots = averageGroupSlots(limits?.maxStorageBuffersPerShaderStage ?? 8);
  const sizes = pairs.map((m) => m.source.size);
  for (const group of groupParameters(sizes, Infinity, slots)) {
    const inputs: Record<string, Tensor> = { factor, ...(guard && { guard }) };
    group.forEach((i, j) => {
      const { average, source } = pairs[i]!;
      ownBuffer(average);
      inputs[`e${j}`] = average;
      inputs[`p${j}`] = source;
    });
    tf.tidy(() => {
      tf.engine().runKernel(WEIGHT_AVERAGE_GROUP, inputs, {}); // in place; its output is unused
    });
  }
}

/**
 * WASM, the CPU, stock WebGPU kernels: PyTorch's `lerp` per average, `e + (p − e)·f`
 * below 0.5 and `p − (p − e)·(1 − f)` from 0.5 on (exact at f = 1).
 */
function composed(pairs: readonly AveragePair[], factor: Tensor, guard?: Tensor): void {
  tf.tidy(() => {
    const f = tf.reshape(factor, []);
    const low = tf.less(f, 0.5);
    const open = guard ? tf.notEqual(tf.reshape(tf.slice(guard, [1], [1]), []), 0) : undefined;
    for (const { average, source } of pairs) {
      const d = tf.sub(source, average);
      const next = tf.where(
        low,
        tf.add(average, tf.mul(d, f)),
        tf.sub(source, tf.mul(d, tf.sub(1, f))),
      );
      average.assign(open ? tf.where(open, next, average) : next);
    }
  });
}
