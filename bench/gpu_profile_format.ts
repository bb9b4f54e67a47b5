/**
 * Text tables of a GPU profile (`core/gpu_profile.ts`): GPU busy time and host
 * recording time per step and per phase, then the kernels by GPU time with
 * their share, time per call, the GB/s of the tensors they bind and — for
 * programs that state their work — the TFLOP/s they reached inside the step.
 *
 * @module
 */
import type { GpuKernelStat } from "../core/gpu_profile.ts";

/** Per-step totals of a profile. */
export interface GpuProfileTotals {
  /** GPU milliseconds per step inside dispatches. */
  gpuMs: number;
  /** Host milliseconds per step recording dispatches. */
  hostMs: number;
  /** Dispatches per step. */
  dispatches: number;
}

/** Sums `stats` over phases and kernels, divided by `steps`. */
export function gpuProfileTotals(stats: GpuKernelStat[], steps: number): GpuProfileTotals {
  const sum = (f: (s: GpuKernelStat) => number) => stats.reduce((p, s) => p + f(s), 0) / steps;
  return {
    gpuMs: sum((s) => s.gpuMs),
    hostMs: sum((s) => s.hostMs),
    dispatches: sum((s) => s.calls),
  };
}

const fixed = (x: number, digits: number, width: number) => x.toFixed(digits).padStart(width);

/**
 * The profile of `steps` steps as text: totals against the profiled step's
 * wall time `stepMs`, one line per phase, then the `top` kernels by GPU time
 * (ms per step, share, calls per step, µs per call on the GPU and on the host,
 * TFLOP/s where known, GB/s of the bound tensors).
 */
export function formatGpuProfile(
  stats: GpuKernelStat[],
  steps: number,
  stepMs: number,
  top = 30,
): string {
  const total = gpuProfileTotals(stats, steps);
  const lines = [
    `GPU profile (timestamps around every dispatch, one compute pass each: the profiled step ` +
    `runs slower than an unprofiled one; read GPU ms as busy time)`,
    `  per step: GPU busy ${total.gpuMs.toFixed(2)} ms in ${total.dispatches.toFixed(0)} ` +
    `dispatches, host recording ${total.hostMs.toFixed(2)} ms (${
      (total.hostMs / Math.max(total.dispatches, 1) * 1000).toFixed(1)
    } µs/dispatch); profiled step ${stepMs.toFixed(1)} ms`,
  ];
  const phases = new Map<string, GpuKernelStat[]>();
  for (const s of stats) phases.set(s.phase, [...(phases.get(s.phase) ?? []), s]);
  for (const [phase, list] of phases) {
    const p = gpuProfileTotals(list, steps);
    lines.push(
      `  ${phase.padEnd(10)} GPU ${fixed(p.gpuMs, 2, 8)} ms  host ${fixed(p.hostMs, 2, 7)} ms  ` +
        `${fixed(p.dispatches, 0, 5)} dispatches`,
    );
  }
  lines.push(
    `  ${"GPU ms".padStart(8)} ${"share".padStart(6)} ${"calls".padStart(6)} ` +
      `${"GPU µs/call".padStart(11)} ${"host µs".padStart(8)} ${"TFLOP/s".padStart(8)} ` +
      `${"GB/s".padStart(7)}  phase      kernel`,
  );
  for (const s of stats.slice(0, top)) {
    const seconds = s.gpuMs / 1000;
    // Two decimals on a GPU; small rates (the fallback adapter) keep their digits.
    const rate = (x: number, width: number) =>
      (x <= 0 || seconds <= 0 ? "" : x >= 0.01 ? x.toFixed(2) : x.toExponential(1)).padStart(width);
    lines.push(
      `  ${fixed(s.gpuMs / steps, 3, 8)} ${fixed((s.gpuMs / steps / total.gpuMs) * 100, 1, 5)}% ` +
        `${fixed(s.calls / steps, 0, 6)} ${fixed((s.gpuMs / s.calls) * 1000, 1, 11)} ` +
        `${fixed((s.hostMs / s.calls) * 1000, 1, 8)} ${rate(s.flops / seconds / 1e12, 8)} ` +
        `${rate(s.bytes / seconds / 1e9, 7)}  ${s.phase.padEnd(10)} ${s.kernel}`,
    );
  }
  if (stats.length > top) {
    const rest = stats.slice(top);
    const r = gpuProfileTotals(rest, steps);
    lines.push(
      `  ${fixed(r.gpuMs, 3, 8)} ${fixed((r.gpuMs / total.gpuMs) * 100, 1, 5)}% ` +
        `${fixed(r.dispatches, 0, 6)} in ${rest.length} more rows`,
    );
  }
  return lines.join("\n");
}
