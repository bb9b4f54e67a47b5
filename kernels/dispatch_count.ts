/**
 * Counts what tfjs-backend-webgpu sends to the GPU: compute dispatches (by
 * program class, e.g. `NovalabMatMulProgram`, `BinaryOpProgram`) and queue
 * submits (and the time spent submitting). It wraps the backend instance's `recordAndSubmit` and `submitQueue`
 * (internal methods of tfjs-backend-webgpu 4.22, pinned in deno.json), so it
 * sees every dispatch tfjs records and costs nothing when not attached.
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

/** Counts since the last reset. */
export interface DispatchCounts {
  /** Compute dispatches. */
  dispatches: number;
  /** `queue.submit` calls made by the backend. */
  submits: number;
  /** Dispatches per program class name. */
  byProgram: Record<string, number>;
  /** Milliseconds spent inside the backend's submits (`queue.submit` and its bookkeeping). */
  submitMs: number;
}

/** A live counter attached to one backend (counters nest; detach in reverse order). */
export interface DispatchCounter {
  /** Counts so far (a copy). */
  read(): DispatchCounts;
  /** Zeroes the counts. */
  reset(): void;
  /** Detaches from the backend (restores its methods). */
  detach(): void;
}

interface Internals {
  recordAndSubmit: (program: { constructor: { name: string } }, ...rest: unknown[]) => void;
  submitQueue: () => void;
}

/** Attaches a counter to `backend` (the active one: `tf.backend()` while webgpu is set). */
export function countDispatches(backend: WebGPUBackend): DispatchCounter {
  const internals = backend as unknown as Internals;
  if (
    typeof internals.recordAndSubmit !== "function" || typeof internals.submitQueue !== "function"
  ) {
    throw new Error(
      "kernels/dispatch_count.ts: the backend has no recordAndSubmit/submitQueue; " +
        "expected a tfjs-backend-webgpu 4.22 WebGPUBackend (pinned in deno.json)",
    );
  }
  const record = internals.recordAndSubmit;
  const submit = internals.submitQueue;
  // Own properties an earlier counter may have set (restored on detach, so counters nest).
  const own = {
    recordAndSubmit: Object.getOwnPropertyDescriptor(internals, "recordAndSubmit"),
    submitQueue: Object.getOwnPropertyDescriptor(internals, "submitQueue"),
  };
  const zero = (): DispatchCounts => ({ dispatches: 0, submits: 0, byProgram: {}, submitMs: 0 });
  let counts = zero();
  internals.recordAndSubmit = function (program, ...rest) {
    counts.dispatches += 1;
    const name = program.constructor.name;
    counts.byProgram[name] = (counts.byProgram[name] ?? 0) + 1;
    return record.call(this, program, ...rest);
  };
  internals.submitQueue = function () {
    counts.submits += 1;
    const t0 = performance.now();
    try {
      return submit.call(this);
    } finally {
      counts.submitMs += performance.now() - t0;
    }
  };
  return {
    read: () => ({ ...counts, byProgram: { ...counts.byProgram } }),
    reset: () => {
      counts = zero();
    },
    detach: () => {
      for (const key of ["recordAndSubmit", "submitQueue"] as const) {
        const previous = own[key];
        if (previous) Object.defineProperty(internals, key, previous);
        else delete (internals as Partial<Internals>)[key];
      }
    },
  };
}
