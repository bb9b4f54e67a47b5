/**
 * Timing candidates against each other on the WebGPU device, for the tuners
 * (`kernels/matmul_autotune.ts`, `kernels/attention_autotune.ts`): every
 * candidate is run once to compile, then `reps` times with the candidates
 * taking turns (a clock or thermal drift falls on all alike). With
 * `timestamp-query` a run's time is the GPU time of its dispatches
 * (`core/gpu_profile.ts`), else the wall clock from recording to
 * `onSubmittedWorkDone`, host overhead included. Each candidate's median counts.
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { profileGpuDispatches } from "../core/gpu_profile.ts";
import { submitPendingWork } from "../core/webgpu_device.ts";

/** A choice the rule's replaces only when it is faster by more than this fraction. */
export const KEEP_RULE_WITHIN = 0.05;

/** What {@linkcode timeCandidates} measured. */
export interface CandidateTimes<C> {
  /** The candidates that ran (`run` returned true on the warm-up), in the order given. */
  ran: C[];
  /** Median milliseconds per run of each candidate in `ran`. */
  ms: number[];
  /** `gpu` (timestamp queries) or `wall`. */
  clock: "gpu" | "wall";
}

function median(xs: number[]): number {
  const sorted = [...xs].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Runs each of `candidates` through `run` (records its dispatches; false: it
 * cannot run here, and is dropped) once to compile, then `reps` times in
 * turns, and returns the medians.
 */
export async function timeCandidates<C>(
  backend: WebGPUBackend,
  candidates: readonly C[],
  run: (candidate: C) => boolean,
  options: { reps: number; wallClock?: boolean },
): Promise<CandidateTimes<C>> {
  const settle = async () => {
    submitPendingWork(backend);
    await backend.device.queue.onSubmittedWorkDone();
  };
  const ran = candidates.filter(run);
  await settle();
  const clock = !options.wallClock && backend.device.features.has("timestamp-query")
    ? "gpu"
    : "wall";
  const samples = ran.map(() => [] as number[]);
  if (clock === "gpu") {
    const profiler = profileGpuDispatches(backend);
    try {
      for (let r = 0; r < options.reps; r++) {
        ran.forEach((c, i) => {
          profiler.phase(`${i}/${r}`);
          run(c);
        });
      }
      const perPhase = new Map<string, number>();
      for (const s of await profiler.read()) {
        perPhase.set(s.phase, (perPhase.get(s.phase) ?? 0) + s.gpuMs);
      }
      ran.forEach((_, i) => {
        for (let r = 0; r < options.reps; r++) samples[i]!.push(perPhase.get(`${i}/${r}`) ?? 0);
      });
    } finally {
      profiler.detach();
    }
  } else {
    for (let r = 0; r < options.reps; r++) {
      for (const [i, c] of ran.entries()) {
        const t0 = performance.now();
        run(c);
        await settle();
        samples[i]!.push(performance.now() - t0);
      }
    }
  }
  return { ran, ms: samples.map(median), clock };
}
