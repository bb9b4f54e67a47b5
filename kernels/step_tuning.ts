/**
 * `--autotune`: while a run's first step runs, record the shapes of its
 * matmuls and attention calls; after it, give each the tiling (and the
 * attention backward its dK/dV form) timed fastest on this device — from the
 * cache when an earlier run timed it (`kernels/autotune_cache.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { clearTunedTilings, recordMatMulShapes } from "./matmul_tuning.ts";
import { autotuneMatMuls, formatAutotuneReport } from "./matmul_autotune_cache.ts";
import { attentionTable } from "./attention_tuning.ts";
import { autotuneAttention, formatAttentionReport } from "./attention_autotune.ts";
import { openTuningCache } from "./autotune_cache.ts";

/** Tuning that waits for a step: the shapes are recorded while the step runs. */
export interface StepTuning {
  /** Stops recording and tunes the shapes the step ran; returns the report's lines. */
  finish(): Promise<string[]>;
  /** Stops recording without tuning (a run that ends before its first step does). */
  stop(): void;
}

/** Forgets every tuned choice: products and attention go back to their rules. */
export function clearTunedChoices(): void {
  clearTunedTilings();
  attentionTable.clear();
}

/**
 * Starts recording the shapes of the next step, to tune them (cache in
 * `cacheDir`) when `finish` is called; `undefined` unless the active backend
 * is webgpu. Clears the tables first, so the recorded step runs the rules'
 * choices whatever ran before in the process (a run's first step is the same
 * with and without tuning).
 */
export function startStepTuning(cacheDir: string): StepTuning | undefined {
  if (tf.getBackend() !== "webgpu") return undefined;
  clearTunedChoices();
  const matmuls = recordMatMulShapes();
  const attention = attentionTable.record();
  const stop = () => {
    matmuls.stop();
    attention.stop();
  };
  return {
    async finish() {
      stop();
      const backend = tf.backend() as WebGPUBackend;
      const lines = formatAutotuneReport(
        await autotuneMatMuls(backend, matmuls.shapes(), { cacheDir }),
      );
      const cache = await openTuningCache(backend, cacheDir);
      const tuned = await autotuneAttention(backend, attention.shapes(), cache);
      await cache.save();
      return [...lines, ...formatAttentionReport(tuned)];
    },
    stop,
  };
}
