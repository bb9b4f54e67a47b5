/**
 * Per-kernel CPU time on a synchronous tfjs backend (WASM, CPU): wraps every
 * kernel registered for the backend with a timer, keyed by kernel name and by
 * the phase the caller says it is in (forward, backward, optimizer, …). On
 * synchronous backends a kernel's wall time is its cost, so the totals add up
 * to the step minus tfjs's own JavaScript overhead (engine bookkeeping, tape,
 * `tf.tidy`), which {@linkcode formatProfile} reports as the remainder.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

/** Time and calls of one kernel in one phase. */
export interface KernelStat {
  /** Kernel name (tfjs's, e.g. `BatchMatMul`, or novalab's). */
  kernel: string;
  /** Phase label given to {@linkcode KernelProfiler.phase}. */
  phase: string;
  /** Calls. */
  calls: number;
  /** Total milliseconds. */
  ms: number;
}

/** A running profiler; {@linkcode KernelProfiler.detach} restores the kernels. */
export interface KernelProfiler {
  /** Attributes the following kernel calls to `name`. */
  phase(name: string): void;
  /** Clears the totals (e.g. after warm-up). */
  reset(): void;
  /** Totals so far, most expensive first. */
  read(): KernelStat[];
  /** Wall milliseconds spent in each phase so far (kernels and tfjs's own work). */
  wall(): Record<string, number>;
  /** Puts the original kernel functions back. */
  detach(): void;
}

/** `[2,3]·[3,4] transposeB=true`: input shapes and the scalar attributes of a kernel call. */
function describeCall(args: { inputs: tf.NamedTensorInfoMap; attrs?: tf.NamedAttrMap }): string {
  const shapes = Object.values(args.inputs).map((t) => `[${t?.shape ?? ""}]`).join("·");
  const attrs = Object.entries(args.attrs ?? {})
    .filter(([, v]) => typeof v === "boolean" || typeof v === "number" || Array.isArray(v))
    .map(([k, v]) => `${k}=${Array.isArray(v) ? `[${v}]` : v}`);
  return [shapes, ...attrs].join(" ");
}

/**
 * Wraps every kernel registered for `backendName` (default: the active one)
 * with a timer; `shapes` keys the totals by input shapes and attributes too.
 * Kernels registered later are wrapped at the next {@linkcode KernelProfiler.phase}
 * call (novalab's WASM kernels register on first use).
 */
export function profileKernels(
  backendName = tf.getBackend(),
  options: { shapes?: boolean } = {},
): KernelProfiler {
  const originals = new Map<string, tf.KernelConfig>();
  const stats = new Map<string, KernelStat>();
  let current = "step";
  let wall: Record<string, number> = {};
  let since = performance.now();
  /** Wraps the kernels not wrapped yet (novalab's register lazily, on first use). */
  const wrapNew = () => {
    for (const config of tf.getKernelsForBackend(backendName)) {
      if (originals.has(config.kernelName)) continue;
      originals.set(config.kernelName, config);
      const inner = config.kernelFunc;
      const kernel = config.kernelName;
      tf.unregisterKernel(kernel, backendName);
      tf.registerKernel({
        ...config,
        kernelFunc: (args) => {
          const t0 = performance.now();
          const out = inner(args);
          const ms = performance.now() - t0;
          const name = options.shapes ? `${kernel} ${describeCall(args)}` : kernel;
          const key = `${current}\u0000${name}`;
          const s = stats.get(key) ?? { kernel: name, phase: current, calls: 0, ms: 0 };
          s.calls += 1;
          s.ms += ms;
          stats.set(key, s);
          return out;
        },
      });
    }
  };
  wrapNew();
  return {
    phase: (name) => {
      const now = performance.now();
      wall[current] = (wall[current] ?? 0) + now - since;
      current = name;
      wrapNew();
      since = performance.now();
    },
    reset: () => {
      stats.clear();
      wall = {};
      since = performance.now();
    },
    read: () => [...stats.values()].sort((a, b) => b.ms - a.ms),
    wall: () => ({ ...wall }),
    detach: () => {
      for (const config of originals.values()) {
        tf.unregisterKernel(config.kernelName, backendName);
        tf.registerKernel(config);
      }
      originals.clear();
    },
  };
}

/**
 * A text table of `stats` divided by `steps`: per phase the kernel total (and
 * the phase's wall time when `wall` is given), then the `top` kernels by time
 * with calls and ms per step; `stepMs` (the measured step) gives the
 * remainder outside kernels.
 */
export function formatProfile(
  stats: KernelStat[],
  steps: number,
  stepMs: number,
  top = 25,
  wall: Record<string, number> = {},
): string {
  const lines: string[] = [];
  const byPhase = new Map<string, { ms: number; calls: number }>();
  for (const s of stats) {
    const p = byPhase.get(s.phase) ?? { ms: 0, calls: 0 };
    p.ms += s.ms;
    p.calls += s.calls;
    byPhase.set(s.phase, p);
  }
  let kernelMs = 0, calls = 0;
  for (const [phase, p] of byPhase) {
    kernelMs += p.ms;
    calls += p.calls;
    const w = wall[phase] === undefined
      ? ""
      : ` (phase wall ${(wall[phase]! / steps).toFixed(1)} ms)`;
    lines.push(
      `  ${phase.padEnd(10)} ${(p.ms / steps).toFixed(1).padStart(8)} ms ` +
        `${(p.calls / steps).toFixed(0).padStart(6)} kernel calls${w}`,
    );
  }
  lines.push(
    `  kernels    ${(kernelMs / steps).toFixed(1).padStart(8)} ms ` +
      `${(calls / steps).toFixed(0).padStart(6)} calls; outside kernels ` +
      `${(stepMs - kernelMs / steps).toFixed(1)} ms of ${stepMs.toFixed(1)} ms/step`,
  );
  for (const s of stats.slice(0, top)) {
    lines.push(
      `  ${(s.ms / steps).toFixed(1).padStart(8)} ms ${
        (s.calls / steps).toFixed(0).padStart(5)
      }× ` +
        `${s.phase.padEnd(10)} ${s.kernel}`,
    );
  }
  return lines.join("\n");
}
