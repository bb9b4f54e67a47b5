/**
 * Per-dispatch GPU time on tfjs-backend-webgpu, from timestamp queries: every
 * dispatch the backend records gets its own compute pass whose beginning and
 * end write GPU timestamps, and the host milliseconds spent recording it are
 * timed too. The totals are kept per phase (forward, backward, optimizer, …)
 * and per program class (optionally per program and shapes), so a step's GPU
 * time can be read kernel by kernel next to its host cost — the profile issue 8
 * asks for before and after each kernel.
 *
 * Profiling changes what it measures a little: one pass per dispatch puts a
 * barrier between dispatches that share a pass otherwise, so read the sum of
 * kernel times as the GPU's busy time, not the step time. It needs the
 * `timestamp-query` feature (novalab's device requests it where the adapter
 * offers it: Vulkan GPUs and the fallback adapter do). It wraps the backend
 * instance's internal `recordAndSubmit` (tfjs-backend-webgpu 4.22, pinned).
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

/** GPU and host time of one program (and shape, when asked) in one phase. */
export interface GpuKernelStat {
  /** Program class name (`NovalabMatMulProgram`, `BinaryOpProgram`, …), with shapes if asked. */
  kernel: string;
  /** Phase label given to {@linkcode GpuProfiler.phase}. */
  phase: string;
  /** Dispatches. */
  calls: number;
  /** GPU milliseconds between the pass's two timestamps, summed. */
  gpuMs: number;
  /**
   * Host milliseconds spent recording the dispatches (bind group, uniforms,
   * encoding), without the queue submits tfjs makes along the way.
   */
  hostMs: number;
  /** Floating-point operations, for programs that state them (`flops`), else 0. */
  flops: number;
  /**
   * Bytes of the tensors bound (every input once, the output once, 4 bytes an
   * element): what the dispatches must move at least, for GB/s.
   */
  bytes: number;
}

/** A running GPU profiler; {@linkcode GpuProfiler.detach} restores the backend. */
export interface GpuProfiler {
  /** Attributes the following dispatches to `name`. */
  phase(name: string): void;
  /** Forgets what was recorded so far (e.g. the warm-up steps). */
  reset(): void;
  /** Resolves the timestamps recorded so far; returns a copy of the totals, most GPU time first. */
  read(): Promise<GpuKernelStat[]>;
  /** Puts the backend's own `recordAndSubmit` and `submitQueue` back and frees the query sets. */
  detach(): void;
}

interface Recorded {
  key: string;
  phase: string;
  kernel: string;
  hostMs: number;
  flops: number;
  bytes: number;
  set: GPUQuerySet;
  slot: number;
}

interface TensorInfoLike {
  shape: number[];
}

interface Internals {
  device: GPUDevice;
  commandEncoder: GPUCommandEncoder | null;
  computePassEncoder: GPUComputePassEncoder | null;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  submitQueue(): void;
  recordAndSubmit: (
    program: { constructor: { name: string }; flops?: number },
    output: TensorInfoLike,
    inputs: TensorInfoLike[],
    ...rest: unknown[]
  ) => void;
}

/** Timestamps per query set (WebGPU's limit is 4096 queries per set). */
const QUERIES_PER_SET = 4096;

/** Elements of a tensor of `shape`. */
function elements(shape: number[]): number {
  return shape.reduce((p, d) => p * d, 1);
}

/** `Name [out] ← [a]·[b]`: a program and the shapes it ran on. */
function describeDispatch(name: string, output: TensorInfoLike, inputs: TensorInfoLike[]): string {
  const shape = (t: TensorInfoLike) => `[${t.shape.join(",")}]`;
  return `${name} ${shape(output)} ← ${inputs.map(shape).join("·")}`;
}

/**
 * Attaches a profiler to `backend` (the active one: `tf.backend()` while webgpu
 * is set). `shapes` keys the totals by output and input shapes as well.
 * Throws, naming the fix, when the device lacks `timestamp-query`.
 */
export function profileGpuDispatches(
  backend: WebGPUBackend,
  options: { shapes?: boolean } = {},
): GpuProfiler {
  const b = backend as unknown as Internals;
  if (typeof b.recordAndSubmit !== "function" || typeof b.endComputePassEncoder !== "function") {
    throw new Error(
      "core/gpu_profile.ts: the backend has no recordAndSubmit/endComputePassEncoder; " +
        "expected a tfjs-backend-webgpu 4.22 WebGPUBackend (pinned in deno.json)",
    );
  }
  if (!b.device.features.has("timestamp-query")) {
    throw new Error(
      "core/gpu_profile.ts: this WebGPU device has no 'timestamp-query' feature, so GPU time " +
        "per dispatch cannot be measured; run without --profile (novalab's device requests the " +
        "feature when the adapter offers it)",
    );
  }
  return new TimestampProfiler(b, options.shapes === true);
}

/** Staging for reading back one query set's timestamps. */
interface ReadBack {
  resolved: GPUBuffer;
  staging: GPUBuffer;
}

/** The profiler {@linkcode profileGpuDispatches} attaches (see the module notes). */
class TimestampProfiler implements GpuProfiler {
  #sets: GPUQuerySet[] = [];
  #used = QUERIES_PER_SET;
  #pending: Recorded[] = [];
  #stats = new Map<string, GpuKernelStat>();
  #current = "step";
  #submitMs = 0;
  readonly #own: Record<"recordAndSubmit" | "submitQueue", PropertyDescriptor | undefined>;

  constructor(readonly b: Internals, readonly shapes: boolean) {
    this.#own = {
      recordAndSubmit: Object.getOwnPropertyDescriptor(b, "recordAndSubmit"),
      submitQueue: Object.getOwnPropertyDescriptor(b, "submitQueue"),
    };
    const record = b.recordAndSubmit, submit = b.submitQueue;
    b.submitQueue = () => {
      const t0 = performance.now();
      try {
        submit.call(b);
      } finally {
        this.#submitMs += performance.now() - t0;
      }
    };
    b.recordAndSubmit = (program, output, inputs, ...rest) =>
      this.#recordTimed(
        program,
        output,
        inputs,
        () => record.call(b, program, output, inputs, ...rest),
      );
  }

  /** Two free timestamp slots, in a new query set when the current one is full. */
  #nextSlot(): { set: GPUQuerySet; slot: number } {
    if (this.#used + 2 > QUERIES_PER_SET) {
      this.#sets.push(this.b.device.createQuerySet({ type: "timestamp", count: QUERIES_PER_SET }));
      this.#used = 0;
    }
    this.#used += 2;
    return { set: this.#sets.at(-1)!, slot: this.#used - 2 };
  }

  /** Records one dispatch (`record`) in a compute pass of its own that writes two timestamps. */
  #recordTimed(
    program: Parameters<Internals["recordAndSubmit"]>[0],
    output: TensorInfoLike,
    inputs: TensorInfoLike[],
    record: () => void,
  ): void {
    const b = this.b;
    const { set, slot } = this.#nextSlot();
    b.endComputePassEncoder();
    b.ensureCommandEncoderReady();
    b.computePassEncoder = b.commandEncoder!.beginComputePass({
      timestampWrites: {
        querySet: set,
        beginningOfPassWriteIndex: slot,
        endOfPassWriteIndex: slot + 1,
      },
    });
    const t0 = performance.now();
    const submitted0 = this.#submitMs;
    record();
    // A submit tfjs makes while recording (every so many dispatches) is not this dispatch's cost.
    const hostMs = performance.now() - t0 - (this.#submitMs - submitted0);
    // A pass per dispatch: the next one starts its own (tfjs may have ended this one already).
    b.endComputePassEncoder();
    const kernel = this.shapes
      ? describeDispatch(program.constructor.name, output, inputs)
      : program.constructor.name;
    this.#pending.push({
      key: `${this.#current}\u0000${kernel}`,
      phase: this.#current,
      kernel,
      hostMs,
      flops: program.flops ?? 0,
      bytes: 4 * [output, ...inputs].reduce((sum, t) => sum + elements(t.shape), 0),
      set,
      slot,
    });
  }

  /** Copies the timestamps of `sets` (up to the last slot `batch` used in each) to the host. */
  async #readTimestamps(
    batch: Recorded[],
    sets: GPUQuerySet[],
  ): Promise<Map<GPUQuerySet, BigUint64Array>> {
    const b = this.b;
    const bytes = QUERIES_PER_SET * 8;
    const readBacks: ReadBack[] = sets.map(() => ({
      resolved: b.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.QUERY_RESOLVE | GPUBufferUsage.COPY_SRC,
      }),
      staging: b.device.createBuffer({
        size: bytes,
        usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST,
      }),
    }));
    b.endComputePassEncoder();
    b.ensureCommandEncoderReady();
    sets.forEach((set, i) => {
      const last = Math.max(...batch.filter((r) => r.set === set).map((r) => r.slot)) + 2;
      const { resolved, staging } = readBacks[i]!;
      b.commandEncoder!.resolveQuerySet(set, 0, last, resolved, 0);
      b.commandEncoder!.copyBufferToBuffer(resolved, 0, staging, 0, bytes);
    });
    b.submitQueue();
    const times = new Map<GPUQuerySet, BigUint64Array>();
    for (const [i, set] of sets.entries()) {
      const staging = readBacks[i]!.staging;
      await staging.mapAsync(GPUMapMode.READ);
      times.set(set, new BigUint64Array(staging.getMappedRange().slice(0)));
      staging.unmap();
    }
    for (const r of readBacks) {
      r.resolved.destroy();
      r.staging.destroy();
    }
    return times;
  }

  /** Reads back every set the pending dispatches used; adds each one's duration to the totals. */
  async #resolve(): Promise<void> {
    if (this.#pending.length === 0) return;
    const batch = this.#pending;
    this.#pending = [];
    // Dispatches recorded while this awaits the readback go to fresh sets.
    const retired = this.#sets.splice(0);
    this.#used = QUERIES_PER_SET;
    const times = await this.#readTimestamps(batch, [...new Set(batch.map((r) => r.set))]);
    for (const r of batch) {
      const t = times.get(r.set)!;
      // Timestamps are nanoseconds; an adapter may write an end before its begin (clamped).
      const ns = t[r.slot + 1]! > t[r.slot]! ? Number(t[r.slot + 1]! - t[r.slot]!) : 0;
      const s = this.#stats.get(r.key) ??
        { kernel: r.kernel, phase: r.phase, calls: 0, gpuMs: 0, hostMs: 0, flops: 0, bytes: 0 };
      s.calls += 1;
      s.gpuMs += ns / 1e6;
      s.hostMs += r.hostMs;
      s.flops += r.flops;
      s.bytes += r.bytes;
      this.#stats.set(r.key, s);
    }
    retired.forEach((set) => set.destroy());
  }

  /** Attributes the following dispatches to `name`. */
  phase(name: string): void {
    this.#current = name;
  }

  /** Forgets what was recorded so far. */
  reset(): void {
    this.#pending = [];
    this.#stats.clear();
  }

  /** The totals so far, most GPU time first. */
  async read(): Promise<GpuKernelStat[]> {
    await this.#resolve();
    return [...this.#stats.values()].map((s) => ({ ...s })).sort((x, y) => y.gpuMs - x.gpuMs);
  }

  /** Restores the backend's methods and frees the query sets. */
  detach(): void {
    for (const key of ["recordAndSubmit", "submitQueue"] as const) {
      const previous = this.#own[key];
      if (previous) Object.defineProperty(this.b, key, previous);
      else delete (this.b as Partial<Internals>)[key];
    }
    this.#sets.splice(0).forEach((s) => s.destroy());
  }
}
