/**
 * Times the attention backward's two dK/dV forms (`kernels/attention_tuning.ts`)
 * on one shape: both run on the same random inputs (QKV, dO, and the dQ and
 * statistics the forward and dQ programs make of them), compiled first, then
 * taking turns; GPU time from timestamp queries (`core/gpu_profile.ts`), else
 * the wall clock; medians. The fused form stays unless the split one is faster
 * by more than {@linkcode KEEP_RULE_WITHIN}.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { KEEP_RULE_WITHIN, timeCandidates } from "./autotune_timing.ts";
import { type AttentionShape, attentionShapeKey, attentionTable } from "./attention_tuning.ts";
import {
  ATTENTION_FORWARD,
  ATTENTION_GRAD_KEY_VALUE,
  ATTENTION_GRAD_QUERY,
} from "./attention_kernels.ts";
import {
  NovalabAttentionGradKeyProgram,
  NovalabAttentionGradKeyValueProgram,
  NovalabAttentionGradValueProgram,
} from "./attention_grad_programs.ts";
import type { TuningCache } from "./autotune_cache.ts";
import { fnv1a } from "../core/fnv1a.ts";

/** What timing one shape found. */
export interface TunedAttention {
  /** The shape and its key. */
  shape: AttentionShape;
  /** `attentionShapeKey(shape)`. */
  key: string;
  /** The form kept (now in the table). */
  split: boolean;
  /** Median GPU (or wall-clock) milliseconds of the dK/dV dispatches, fused and split. */
  fusedMs: number;
  /** Same, split. */
  splitMs: number;
  /** `gpu` (timestamp queries) or `wall`. */
  clock: "gpu" | "wall";
}

/**
 * Times both dK/dV forms of `shape` on `backend` (webgpu, novalab's kernels
 * installed) from the same random inputs and puts the kept one in the table.
 */
export async function tuneAttentionShape(
  backend: WebGPUBackend,
  shape: AttentionShape,
  options: { reps?: number; wallClock?: boolean } = {},
): Promise<TunedAttention> {
  const reps = options.reps ?? 7;
  const { n, t, heads, dh } = shape;
  const d = heads * dh;
  const inputs = tf.tidy(() => {
    const qkv = tf.randomNormal([n, t, 3 * d], 0, 1, "float32", 1);
    const dy = tf.randomNormal([n, t, d], 0, 1, "float32", 2);
    const bias: Record<string, tf.Tensor> = shape.keyBias ? { keyBias: tf.zeros([n, t]) } : {};
    const run = (name: string, x: Record<string, tf.Tensor>) =>
      tf.engine().runKernel(name, { ...x, ...bias }, { heads }) as tf.Tensor[];
    const [o, lse] = run(ATTENTION_FORWARD, { qkv });
    const [dq, stats] = run(ATTENTION_GRAD_QUERY, { qkv, dy, logSumExp: lse!, o: o! });
    return { qkv, dy, dq: dq!, stats: stats!, ...bias } as Record<string, tf.Tensor>;
  });
  const forms = [false, true];
  const run = (split: boolean) => {
    attentionTable.set(shape, split);
    tf.tidy(() => {
      tf.engine().runKernel(ATTENTION_GRAD_KEY_VALUE, inputs, { heads });
    });
    return true;
  };
  let timed;
  try {
    timed = await timeCandidates(backend, forms, run, {
      reps,
      ...(options.wallClock ? { wallClock: true } : {}),
    });
  } finally {
    tf.dispose(Object.values(inputs));
  }
  const { ms, clock } = timed;
  const [fusedMs, splitMs] = ms as [number, number];
  const split = splitMs < fusedMs * (1 - KEEP_RULE_WITHIN);
  attentionTable.set(shape, split);
  return { shape, key: attentionShapeKey(shape), split, fusedMs, splitMs, clock };
}

/** Fingerprint of the dK/dV programs a choice was timed with (their WGSL at d = 64). */
export function attentionFingerprint(): string {
  const g = { n: 1, t: 64, heads: 1, dh: 64, tile: 32, compact: false, keyBias: false };
  const sources = [
    new NovalabAttentionGradKeyValueProgram(g),
    new NovalabAttentionGradValueProgram(g),
    new NovalabAttentionGradKeyProgram(g),
  ].map((p) => p.getUserCode());
  return `attention-kv:${fnv1a(sources.join("\n"))}`;
}

/** What {@linkcode autotuneAttention} did. */
export interface AttentionAutotuneReport {
  /** Shapes timed now. */
  tuned: TunedAttention[];
  /** Shapes whose form came from the cache: key and whether split. */
  cached: { key: string; split: boolean }[];
  /** Milliseconds it took. */
  ms: number;
}

/**
 * Gives every attention shape in `shapes` its dK/dV form: from `cache` where
 * it holds one for these programs, else by timing both on `backend` (the
 * caller saves the cache).
 */
export async function autotuneAttention(
  backend: WebGPUBackend,
  shapes: readonly AttentionShape[],
  cache: TuningCache,
  options: { reps?: number; wallClock?: boolean } = {},
): Promise<AttentionAutotuneReport> {
  const started = performance.now();
  const fingerprint = attentionFingerprint();
  const report: AttentionAutotuneReport = { tuned: [], cached: [], ms: 0 };
  for (const shape of shapes) {
    const key = attentionShapeKey(shape);
    const hit = cache.get(fingerprint, key) as { split?: unknown } | undefined;
    if (typeof hit?.split === "boolean") {
      attentionTable.set(shape, hit.split);
      report.cached.push({ key, split: hit.split });
      continue;
    }
    const r = await tuneAttentionShape(backend, shape, options);
    report.tuned.push(r);
    cache.put(fingerprint, key, { split: r.split, fused_ms: r.fusedMs, split_ms: r.splitMs });
  }
  report.ms = performance.now() - started;
  return report;
}

/** Lines for logs: the form kept per shape, with both times. */
export function formatAttentionReport(r: AttentionAutotuneReport): string[] {
  if (r.tuned.length + r.cached.length === 0) return [];
  return [
    `attention dK/dV: ${r.tuned.length} tuned, ${r.cached.length} from the cache, ${
      (r.ms / 1000).toFixed(1)
    } s`,
    ...r.tuned.map((t) =>
      `  ${t.key}: ${t.split ? "split" : "fused"} (fused ${t.fusedMs.toFixed(3)} ms, split ` +
      `${t.splitMs.toFixed(3)} ms; ${t.clock} clock)`
    ),
  ];
}
