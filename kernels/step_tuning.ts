/**
 * `--autotune`: while a run's first step runs, record the shapes of its
 * matmuls, attention calls and LayerNorm backwards; after it, give each the
 * tiling or form timed fastest on this device — from the cache when an
 * earlier run timed it (`kernels/autotune_cache.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { clearTunedTilings, recordMatMulShapes, type TilingChoice } from "./matmul_tuning.ts";
import {
  autotuneMatMuls,
  formatAutotuneReport,
  kernelFingerprint,
} from "./matmul_autotune_cache.ts";
import { attentionTable } from "./attention_tuning.ts";
import { layerNormTable } from "./layernorm_tuning.ts";
import {
  autotuneLayerNorm,
  formatLayerNormReport,
  layerNormFingerprint,
} from "./layernorm_autotune.ts";
import {
  attentionFingerprint,
  autotuneAttention,
  formatAttentionReport,
} from "./attention_autotune.ts";
import { openTuningCache } from "./autotune_cache.ts";

/** What a step's tuning chose, per shape: the record a run keeps (`autotune.json`). */
export interface StepTuningRecord {
  /** The adapter the choices were timed on. */
  adapter: string;
  /** Matmul shape key → tile and k slices, and whether timed now or read from the cache. */
  matmuls: Record<
    string,
    TilingChoice & { from: "tuned" | "cache"; ms?: number; rule_ms?: number }
  >;
  /** Attention shape key → whether dK/dV is split, and where the choice came from. */
  attention: Record<string, { split: boolean; from: "tuned" | "cache" }>;
  /** LayerNorm shape key → rows per workgroup of the one-pass backward (0: two kernels). */
  layernorm: Record<string, { rows: number; from: "tuned" | "cache" }>;
  /** Seconds the tuning took. */
  seconds: number;
  /**
   * The tuned kernels' time per step by the tuners' own timings — each shape's
   * time times its calls in the recorded step — with the rules' choices and
   * with the kept ones (milliseconds; shapes without times left out).
   */
  per_step: { rule_ms: number; tuned_ms: number };
}

/** Rule and kept times of one shape, from its tuning now or from the cache entry. */
interface ShapeTimes {
  rule: number;
  kept: number;
}

function num(x: unknown): number | undefined {
  return typeof x === "number" && Number.isFinite(x) ? x : undefined;
}

/** Σ calls × time over the shapes whose times are known. */
function perStep(
  counts: Map<string, number>[],
  times: Map<string, ShapeTimes>,
): { rule_ms: number; tuned_ms: number } {
  let rule = 0, kept = 0;
  for (const byKey of counts) {
    for (const [key, n] of byKey) {
      const t = times.get(key);
      if (!t) continue;
      rule += n * t.rule;
      kept += n * t.kept;
    }
  }
  return { rule_ms: rule, tuned_ms: kept };
}

/** What {@linkcode StepTuning.finish} returns. */
export interface StepTuningResult {
  /** Lines for the log: each choice against the rule's. */
  lines: string[];
  /** The choices, for the run directory. */
  record: StepTuningRecord;
}

/** Tuning that waits for a step: the shapes are recorded while the step runs. */
export interface StepTuning {
  /** Stops recording and tunes the shapes the step ran. */
  finish(): Promise<StepTuningResult>;
  /** Stops recording without tuning (a run that ends before its first step does). */
  stop(): void;
}

/** Forgets every tuned choice: matmuls, attention and LayerNorm go back to their rules. */
export function clearTunedChoices(): void {
  clearTunedTilings();
  attentionTable.clear();
  layerNormTable.clear();
}

type MatMulTuning = Awaited<ReturnType<typeof autotuneMatMuls>>;
type AttentionTuning = Awaited<ReturnType<typeof autotuneAttention>>;
type LayerNormTuning = Awaited<ReturnType<typeof autotuneLayerNorm>>;
type TuningCache = Awaited<ReturnType<typeof openTuningCache>>;

/** Each tuned shape's milliseconds with the rule's choice and with the kept one. */
function shapeTimes(
  mm: MatMulTuning,
  att: AttentionTuning,
  ln: LayerNormTuning,
  cache: TuningCache,
): Map<string, ShapeTimes> {
  const times = new Map<string, ShapeTimes>();
  const fromCache = (fingerprint: string, key: string, rule: string, kept: string) => {
    const e = cache.get(fingerprint, key) as Record<string, unknown> | undefined;
    const [r, k] = [num(e?.[rule]), num(e?.[kept])];
    if (r !== undefined && k !== undefined) times.set(key, { rule: r, kept: k });
  };
  for (const t of mm.tuned) times.set(t.key, { rule: t.rule.ms, kept: t.chosen.ms });
  for (const c of mm.cached) fromCache(kernelFingerprint(), c.key, "rule_ms", "ms");
  for (const t of att.tuned) {
    times.set(t.key, { rule: t.fusedMs, kept: t.split ? t.splitMs : t.fusedMs });
  }
  for (const c of att.cached) {
    fromCache(attentionFingerprint(), c.key, "fused_ms", c.split ? "split_ms" : "fused_ms");
  }
  for (const t of ln.tuned) times.set(t.key, { rule: t.rule.ms, kept: t.chosen.ms });
  for (const c of ln.cached) fromCache(layerNormFingerprint(), c.key, "rule_ms", "ms");
  return times;
}

/** What the run's `autotune.json` keeps: every choice, where it came from, the estimate. */
function tuningRecord(
  tuned: { mm: MatMulTuning; att: AttentionTuning; ln: LayerNormTuning },
  seconds: number,
  estimate: StepTuningRecord["per_step"],
): StepTuningRecord {
  const { mm, att, ln } = tuned;
  return {
    adapter: mm.adapter,
    matmuls: Object.fromEntries([
      ...mm.cached.map((c) => [c.key, { ...c.choice, from: "cache" as const }]),
      ...mm.tuned.map((t) => [t.key, {
        tile: t.chosen.tile,
        splits: t.chosen.splits,
        from: "tuned" as const,
        ms: t.chosen.ms,
        rule_ms: t.rule.ms,
      }]),
    ]),
    attention: Object.fromEntries([
      ...att.cached.map((c) => [c.key, { split: c.split, from: "cache" as const }]),
      ...att.tuned.map((t) => [t.key, { split: t.split, from: "tuned" as const }]),
    ]),
    layernorm: Object.fromEntries([
      ...ln.cached.map((c) => [c.key, { rows: c.rows, from: "cache" as const }]),
      ...ln.tuned.map((t) => [t.key, { rows: t.chosen.rows, from: "tuned" as const }]),
    ]),
    seconds,
    per_step: estimate,
  };
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
  const layerNorms = layerNormTable.record();
  const stop = () => {
    matmuls.stop();
    attention.stop();
    layerNorms.stop();
  };
  return {
    async finish() {
      stop();
      const started = performance.now();
      const backend = tf.backend() as WebGPUBackend;
      const cache = await openTuningCache(backend, cacheDir);
      const mm = await autotuneMatMuls(backend, matmuls.shapes(), { cache });
      const att = await autotuneAttention(backend, attention.shapes(), cache);
      const ln = await autotuneLayerNorm(backend, layerNorms.shapes(), cache);
      await cache.save();
      const estimate = perStep(
        [matmuls.counts(), attention.counts(), layerNorms.counts()],
        shapeTimes(mm, att, ln, cache),
      );
      const seconds = (performance.now() - started) / 1000;
      const lines = [
        ...formatAutotuneReport(mm),
        ...formatAttentionReport(att),
        ...formatLayerNormReport(ln),
        `tuned kernels per step, by these timings × each shape's calls in step 1: rules ${
          estimate.rule_ms.toFixed(2)
        } ms → kept ${estimate.tuned_ms.toFixed(2)} ms (${
          (estimate.rule_ms / Math.max(estimate.tuned_ms, 1e-9)).toFixed(2)
        }×)`,
      ];
      return { lines, record: tuningRecord({ mm, att, ln }, seconds, estimate) };
    },
    stop,
  };
}
