/**
 * Times every candidate tiling of a product shape on the WebGPU device and
 * keeps the fastest (`kernels/matmul_tuning.ts` explains why and holds the
 * table the matmul kernel reads).
 *
 * Each candidate runs the call the step makes — the same epilogue (bias,
 * activation, residual, gate, column sums or pre-activation output), whose
 * cost differs per tiling — on the same random operands: once to compile its
 * pipelines, then `reps` times, the candidates taking turns so that a clock
 * or thermal drift falls on all of them alike. With `timestamp-query` (GPUs
 * under Vulkan, Metal and D3D12 offer it; so does the fallback adapter) a
 * product's time is the GPU time of its dispatches, a split product's
 * reduction included (`core/gpu_profile.ts`); without it, the wall-clock time
 * from recording to `onSubmittedWorkDone`, host overhead included. The median
 * over the repetitions counts. The rule's tiling (`chooseTiling`) is kept
 * unless another is faster by more than {@linkcode KEEP_RULE_WITHIN}, so noise
 * does not move a choice that is as good.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import {
  runNovalabMatMul,
  runNovalabMatMulWithColumnSums,
  runNovalabMatMulWithPreActivation,
} from "./matmul.ts";
import {
  type MatMulShape,
  matMulShapeKey,
  setTunedTiling,
  tilingCandidates,
  type TilingChoice,
  tuningTiles,
} from "./matmul_tuning.ts";
import { KEEP_RULE_WITHIN, timeCandidates } from "./autotune_timing.ts";

export { KEEP_RULE_WITHIN } from "./autotune_timing.ts";

/** One timed candidate. */
export interface TimedTiling extends TilingChoice {
  /** Median milliseconds per product. */
  ms: number;
}

/** The outcome of tuning one shape. */
export interface TunedShape {
  /** The shape and its table key. */
  shape: MatMulShape;
  /** `matMulShapeKey(shape)`. */
  key: string;
  /** The tiling kept (now in the table). */
  chosen: TimedTiling;
  /** The rule's tiling and its time. */
  rule: TimedTiling;
  /** Every candidate timed, fastest first. */
  timed: TimedTiling[];
  /** `gpu` (timestamp queries) or `wall` (host clock to `onSubmittedWorkDone`). */
  clock: "gpu" | "wall";
}

/** Options of {@linkcode tuneMatMulShape}. */
export interface TuneOptions {
  /** Timed runs per candidate (default: enough for ~2 GFLOP, 3 to 15). */
  reps?: number;
  /** Use the wall clock even where timestamp queries exist (tests of the fallback). */
  wallClock?: boolean;
}

function operandShapes(s: MatMulShape): [number[], number[]] {
  return [
    [s.batch, ...(s.transposeA ? [s.k, s.m] : [s.m, s.k])],
    [s.batch, ...(s.transposeB ? [s.n, s.k] : [s.k, s.n])],
  ];
}

function defaultReps(s: MatMulShape): number {
  const flops = 2 * s.batch * s.m * s.n * s.k;
  return Math.min(15, Math.max(3, Math.ceil(2e9 / flops)));
}

/**
 * The call a step makes for `shape`, on random operands (its epilogue's
 * inputs included): `run(c)` runs it with candidate `c`'s tiling and says
 * whether it ran; `dispose` frees the operands.
 */
function shapeCall(
  backend: WebGPUBackend,
  shape: MatMulShape,
): { run: (c: TilingChoice) => boolean; dispose: () => void } {
  const [aShape, bShape] = operandShapes(shape);
  const a = tf.randomNormal(aShape, 0, 1, "float32", 1);
  const b = tf.randomNormal(bShape, 0, 1, "float32", 2);
  const e = shape.epilogue ?? {};
  const outShape = [shape.batch, shape.m, shape.n];
  const extras = {
    bias: e.bias ? tf.randomNormal([shape.n], 0, 1, "float32", 3) : null,
    residual: e.residual ? tf.randomNormal(outShape, 0, 1, "float32", 4) : null,
    gate: e.gate ? tf.randomNormal(outShape, 0, 1, "float32", 5) : null,
  };
  const tiles = new Map(tuningTiles().map((t) => [t.name, t]));
  const run = (c: TilingChoice): boolean => {
    const base = {
      transposeA: shape.transposeA,
      transposeB: shape.transposeB,
      tile: tiles.get(c.tile)!,
      splits: c.splits,
      f16: shape.f16,
    };
    const full = {
      ...base,
      bias: extras.bias,
      activation: e.activation ?? "linear",
      residual: extras.residual,
      gate: e.gate ? { activation: e.gate, input: extras.gate! } : null,
    };
    const outs = e.columnSums
      ? runNovalabMatMulWithColumnSums(backend, a, b, base)
      : e.preActivation
      ? runNovalabMatMulWithPreActivation(backend, a, b, full)
      : [runNovalabMatMul(backend, a, b, full)];
    outs?.forEach((t) => t && backend.disposeData(t.dataId));
    return outs !== null && outs[0] !== null;
  };
  const dispose = () => tf.dispose([a, b, ...Object.values(extras).filter((t) => t !== null)]);
  return { run, dispose };
}

/**
 * Times every candidate tiling of `shape` on `backend` (webgpu, with novalab's
 * kernels) and puts the kept one in the table; returns what was measured, or
 * `null` when no novalab tiling runs the shape on this device (it is past
 * the dispatch limits: tfjs's stock kernel runs it).
 */
export async function tuneMatMulShape(
  backend: WebGPUBackend,
  shape: MatMulShape,
  options: TuneOptions = {},
): Promise<TunedShape | null> {
  const reps = options.reps ?? defaultReps(shape);
  const { run, dispose } = shapeCall(backend, shape);
  try {
    const listed = tilingCandidates(shape);
    const { ran: candidates, ms, clock } = await timeCandidates(backend, listed, run, {
      reps,
      ...(options.wallClock ? { wallClock: true } : {}),
    });
    if (candidates.length === 0) return null;
    const timed = candidates.map((c, i) => ({ ...c, ms: ms[i]! }));
    const rule = timed.find((t) => t.tile === listed[0]!.tile && t.splits === listed[0]!.splits) ??
      timed[0]!;
    const fastest = timed.reduce((best, t) => (t.ms < best.ms ? t : best), rule);
    const chosen = fastest.ms < rule.ms * (1 - KEEP_RULE_WITHIN) ? fastest : rule;
    setTunedTiling(shape, chosen);
    return {
      shape,
      key: matMulShapeKey(shape),
      chosen,
      rule,
      timed: [...timed].sort((x, y) => x.ms - y.ms),
      clock,
    };
  } finally {
    dispose();
  }
}
