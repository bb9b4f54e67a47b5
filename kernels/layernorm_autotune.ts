/**
 * Times the LayerNorm backward's forms (`kernels/layernorm_tuning.ts`) on one
 * shape — the one-pass program with 4, 8, 16 or 32 rows per workgroup (and the
 * rule's count) and the two-kernel backward — on the same inputs (x, γ, dy,
 * and the statistics the forward kernel makes of x), with
 * `kernels/autotune_timing.ts`. The rule's form stays unless another is
 * faster by more than {@linkcode KEEP_RULE_WITHIN}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { KEEP_RULE_WITHIN, timeCandidates } from "./autotune_timing.ts";
import {
  type LayerNormShape,
  layerNormShapeKey,
  layerNormTable,
  rowsPerGroup,
} from "./layernorm_tuning.ts";
import { LAYER_NORM_BACKWARD } from "./layernorm_backward.ts";
import { LAYER_NORM } from "./layernorm_forward.ts";
import { NovalabLayerNormBackwardProgram } from "./layernorm_backward_fused.ts";
import { NovalabLayerNormGradXProgram } from "./layernorm_backward.ts";
import type { TuningCache } from "./autotune_cache.ts";
import { fnv1a } from "../core/fnv1a.ts";

/** What timing one shape found: rows per workgroup (0: two kernels), the rule's and all times. */
export interface TunedLayerNorm {
  /** The shape and its key. */
  shape: LayerNormShape;
  /** `layerNormShapeKey(shape)`. */
  key: string;
  /** The form kept (now in the table). */
  chosen: { rows: number; ms: number };
  /** The rule's form and its time. */
  rule: { rows: number; ms: number };
  /** Candidates timed. */
  candidates: number;
  /** `gpu` or `wall`. */
  clock: "gpu" | "wall";
}

/** Times every form of `shape` on `backend` and puts the kept one in the table. */
export async function tuneLayerNormShape(
  backend: WebGPUBackend,
  shape: LayerNormShape,
  options: { reps?: number; wallClock?: boolean } = {},
): Promise<TunedLayerNorm> {
  const { rows, dim } = shape;
  const inputs = tf.tidy(() => {
    const x = tf.randomNormal([rows, dim], 0, 1, "float32", 1);
    const gamma = tf.randomNormal([dim], 1, 0.1, "float32", 2);
    const beta = tf.zeros([dim]);
    const [y, stats] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, {
      eps: 1e-5,
    }) as tf.Tensor[];
    const dy = tf.randomNormal([rows, dim], 0, 1, "float32", 3);
    const skip = shape.skip ? { dSkip: tf.randomNormal([rows, dim], 0, 1, "float32", 4) } : {};
    return { x, gamma, dy, stats: stats!, y: y!, ...skip } as Record<string, tf.Tensor>;
  });
  const rule = rowsPerGroup(rows);
  const forms = [...new Set([rule, 4, 8, 16, 32, 0])];
  const { y: _, ...args } = inputs;
  const run = (perGroup: number) => {
    layerNormTable.set(shape, perGroup);
    tf.tidy(() => {
      tf.engine().runKernel(LAYER_NORM_BACKWARD, args);
    });
    return true;
  };
  let timed;
  try {
    timed = await timeCandidates(backend, forms, run, {
      reps: options.reps ?? 7,
      ...(options.wallClock ? { wallClock: true } : {}),
    });
  } finally {
    tf.dispose(Object.values(inputs));
  }
  const all = timed.ran.map((rows, i) => ({ rows, ms: timed.ms[i]! }));
  const ruleTime = all.find((f) => f.rows === rule)!;
  const fastest = all.reduce((best, f) => (f.ms < best.ms ? f : best), ruleTime);
  const chosen = fastest.ms < ruleTime.ms * (1 - KEEP_RULE_WITHIN) ? fastest : ruleTime;
  layerNormTable.set(shape, chosen.rows);
  return {
    shape,
    key: layerNormShapeKey(shape),
    chosen,
    rule: ruleTime,
    candidates: all.length,
    clock: timed.clock,
  };
}

/** Fingerprint of the LayerNorm backward programs a choice was timed with (WGSL at D = 192). */
export function layerNormFingerprint(): string {
  const sources = [
    new NovalabLayerNormBackwardProgram(256, 192, 8, 65535, true).getUserCode(),
    new NovalabLayerNormGradXProgram(256, 192, 65535, true).getUserCode(),
  ];
  return `layernorm-backward:${fnv1a(sources.join("\n"))}`;
}

/**
 * Gives every LayerNorm shape in `shapes` its backward form: from `cache`
 * where it holds one for these programs, else by timing (the caller saves the
 * cache). Returns lines for the log.
 */
export async function autotuneLayerNorm(
  backend: WebGPUBackend,
  shapes: readonly LayerNormShape[],
  cache: TuningCache,
  options: { reps?: number; wallClock?: boolean } = {},
): Promise<{ tuned: TunedLayerNorm[]; cached: { key: string; rows: number }[] }> {
  const fingerprint = layerNormFingerprint();
  const out = { tuned: [] as TunedLayerNorm[], cached: [] as { key: string; rows: number }[] };
  for (const shape of shapes) {
    const key = layerNormShapeKey(shape);
    const hit = cache.get(fingerprint, key) as { rows?: unknown } | undefined;
    if (typeof hit?.rows === "number" && Number.isInteger(hit.rows) && hit.rows >= 0) {
      layerNormTable.set(shape, hit.rows);
      out.cached.push({ key, rows: hit.rows });
      continue;
    }
    const r = await tuneLayerNormShape(backend, shape, options);
    out.tuned.push(r);
    cache.put(fingerprint, key, { rows: r.chosen.rows, ms: r.chosen.ms, rule_ms: r.rule.ms });
  }
  return out;
}

/** Log lines: the form kept per shape against the rule's. */
export function formatLayerNormReport(
  r: { tuned: TunedLayerNorm[]; cached: unknown[] },
): string[] {
  if (r.tuned.length + r.cached.length === 0) return [];
  const form = (rows: number) => (rows === 0 ? "two kernels" : `${rows} rows/workgroup`);
  return [
    `layernorm backward: ${r.tuned.length} tuned, ${r.cached.length} from the cache`,
    ...r.tuned.map((t) =>
      `  ${t.key}: ${form(t.chosen.rows)} ${t.chosen.ms.toFixed(3)} ms (rule ${
        form(t.rule.rows)
      } ` +
      `${t.rule.ms.toFixed(3)} ms; ${t.candidates} candidates, ${t.clock} clock)`
    ),
  ];
}
