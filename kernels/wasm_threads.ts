/**
 * Helper threads for novalab's WASM kernels. tfjs-backend-wasm's threaded build
 * keeps its tensors in a shared `WebAssembly.Memory` (`core/wasm_threaded.ts`);
 * each helper instantiates the same generated kernels against that memory in a
 * `node:worker_threads` worker (unref'd: a process whose work is done exits)
 * and computes its part of a kernel in place — a matrix product's rows,
 * columns or batch (`kernels/wasm_gemm_split.ts`), a range of elements or of
 * slices ({@linkcode WasmKernelThreads.parallel}) — while the calling thread
 * computes the first part. Calls are synchronous for tfjs: the caller waits
 * for the helpers with `Atomics.wait`.
 *
 * A helper that is not running yet simply gets no work (its share runs on the
 * caller), so nothing waits for threads to start. `NOVALAB_WASM_THREADS=n`
 * sets the number of threads (the caller included; default: the machine's
 * logical cores, at most 8; 1: tfjs's single-threaded build, no helpers).
 *
 * @module
 */
import { Worker } from "node:worker_threads";
import { envValue } from "../core/env.ts";
import { gemmScratchFloats } from "./wasm_gemm.ts";
import { GEMM_ARGUMENTS, type GemmCall, splitGemm } from "./wasm_gemm_split.ts";
import {
  DONE,
  gemmHelperMain,
  helperLayout,
  type HelperStart,
  MESSAGE_BYTES,
  READY,
  SEQ,
  SLOT_ARGS,
  SLOT_INTS,
  STATUS,
} from "./wasm_gemm_worker.ts";

/** The environment variable that sets how many threads novalab's WASM kernels use. */
export const WASM_THREADS_ENV = "NOVALAB_WASM_THREADS";

/** Most threads used by default. */
const DEFAULT_MAX_THREADS = 8;

/**
 * Threads novalab's WASM kernels should use: `NOVALAB_WASM_THREADS` when set,
 * else the logical cores (at most 8). Throws on a value that is not an integer ≥ 1.
 */
export function wasmThreadsRequested(): number {
  const raw = envValue(WASM_THREADS_ENV);
  if (raw === undefined || raw.trim() === "") {
    return Math.max(1, Math.min(navigator.hardwareConcurrency || 1, DEFAULT_MAX_THREADS));
  }
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `kernels/wasm_threads.ts: ${WASM_THREADS_ENV}='${raw}' is not valid; expected an integer >= 1 ` +
        `(threads of the WASM matrix products, the calling thread included; 1 runs tfjs's ` +
        `single-threaded build)`,
    );
  }
  return n;
}

/** Heap allocation on tfjs's heap, for the helpers' scratch. */
export interface HeapAllocator {
  /** Allocates `bytes`; returns a byte address. */
  malloc(bytes: number): number;
  /** Frees what `malloc` returned. */
  free(at: number): void;
}

/** Spins before a wait: a helper usually finishes within microseconds of the caller. */
const SPINS = 20_000;
/** A helper that has not answered in this long is reported, not waited for forever. */
const HELPER_TIMEOUT_MS = 120_000;

/** The exports of the generated module that helpers may run. */
export const THREADED_FUNCTIONS = [
  "gemm",
  "gelu",
  "gelu_grad",
  "ep_forward",
  "ep_grad",
  "adamw",
  "softmax_grad",
  "softmax_rows",
  "layer_norm",
  "layer_norm_grad_parts",
  "grad_prologue_parts",
];

/**
 * `[start, count]` ranges cutting `total` units into at most `parts`, each
 * (but the last) a multiple of `align`; none when `total` is 0.
 */
export function cutRanges(total: number, parts: number, align: number): [number, number][] {
  const step = Math.max(align, Math.ceil(total / Math.max(1, parts) / align) * align);
  const out: [number, number][] = [];
  for (let start = 0; start < total; start += step) {
    out.push([start, Math.min(step, total - start)]);
  }
  return out;
}

/** A function of the generated module. */
type ExportFn = (...args: number[]) => void;

/** The helpers of one backend's kernels. */
export class WasmKernelThreads {
  readonly #control: Int32Array;
  readonly #args: Float64Array;
  readonly #messages: SharedArrayBuffer;
  readonly #workers: Worker[] = [];
  readonly #scratch: { at: number; floats: number }[] = [];
  readonly #heap: HeapAllocator;
  readonly #caller: Record<string, ExportFn>;
  readonly #retired = new Set<number>();
  #job = 0;
  #partsDone = 0;
  #closed = false;
  /** Most threads a call is cut over (A/B runs: 1 runs every call on the caller). */
  limit = Infinity;

  /**
   * Starts `helpers` threads instantiating `module` (compiled with a shared
   * memory import) against `memory`; `caller` is the calling thread's
   * instance's exports, scratch comes from `heap`.
   */
  constructor(
    module: WebAssembly.Module,
    memory: WebAssembly.Memory,
    helpers: number,
    caller: WebAssembly.Exports,
    heap: HeapAllocator,
  ) {
    this.#heap = heap;
    this.#caller = caller as Record<string, ExportFn>;
    const control = new SharedArrayBuffer(helpers * SLOT_INTS * 4);
    const args = new SharedArrayBuffer(helpers * SLOT_ARGS * 8);
    this.#control = new Int32Array(control);
    this.#args = new Float64Array(args);
    const messages = this.#messages = new SharedArrayBuffer(helpers * MESSAGE_BYTES);
    for (let slot = 0; slot < helpers; slot++) {
      const worker = new Worker(`(${gemmHelperMain})()`, { eval: true });
      worker.unref();
      worker.on("error", (e: unknown) => {
        console.error("novalab WASM helper thread:", e);
        this.#retire(slot);
      });
      worker.on("exit", () => this.#retire(slot));
      const layout = helperLayout(THREADED_FUNCTIONS);
      const start: HelperStart = { module, memory, control, args, messages, slot, layout };
      worker.postMessage(start);
      this.#workers.push(worker);
      this.#scratch.push({ at: 0, floats: 0 });
    }
  }

  /** Threads that take work now: the caller and the helpers that have started. */
  get threads(): number {
    return 1 + this.#readyHelpers().length;
  }

  /**
   * Resolves with {@linkcode WasmKernelThreads.threads} once every helper has
   * started, or when `timeoutMs` passed (tests and benchmarks; training
   * never waits).
   */
  async whenStarted(timeoutMs = 10_000): Promise<number> {
    const until = performance.now() + timeoutMs;
    while (this.threads < 1 + this.#workers.length && !this.#closed && performance.now() < until) {
      await new Promise((resolve) => setTimeout(resolve, 2));
    }
    return this.threads;
  }

  /** Parts of kernels the helpers have finished so far (tests check that they take work). */
  get partsDone(): number {
    return this.#partsDone;
  }

  #readyHelpers(): number[] {
    if (this.#closed) return [];
    return this.#workers.flatMap((_, h) =>
      Atomics.load(this.#control, h * SLOT_INTS + READY) === 1 && !this.#retired.has(h) ? [h] : []
    );
  }

  /** Takes helper `h` out of service (it exited, failed to start or stopped answering). */
  #retire(h: number): void {
    if (this.#retired.has(h)) return;
    this.#retired.add(h);
    Atomics.store(this.#control, h * SLOT_INTS + READY, 0);
    if (!this.#closed) void this.#workers[h]!.terminate();
  }

  /** The started helpers a call may use now (at most {@linkcode WasmKernelThreads.limit} − 1). */
  #available(): number[] {
    return this.#readyHelpers().slice(0, Math.max(0, this.limit - 1));
  }

  /**
   * Runs the product `call`: cut over the caller and the started helpers
   * (`kernels/wasm_gemm_split.ts`), the caller computing the first part;
   * returns once every part is written. Throws when a helper's part failed.
   */
  run(call: GemmCall): void {
    const ready = this.#available();
    const parts = splitGemm(call, 1 + ready.length);
    const args = parts.map((part, p) => {
      const scratch = p === 0 ? part.scratch : this.#helperScratch(ready[p - 1]!, part.N);
      return GEMM_ARGUMENTS.map((name) => name === "scratch" ? scratch : part[name]);
    });
    this.#dispatch("gemm", args, ready);
  }

  /**
   * Runs export `fn` (one of {@linkcode THREADED_FUNCTIONS}) once per
   * argument list `split(threads)` returns, given how many threads may take a
   * part now: the first on the caller, the others on helpers, all before it
   * returns. The parts must write disjoint memory (or the same values).
   */
  parallel(fn: string, split: (threads: number) => number[][]): void {
    const ready = this.#available();
    this.#dispatch(fn, split(1 + ready.length), ready);
  }

  #dispatch(fn: string, parts: number[][], ready: number[]): void {
    const index = THREADED_FUNCTIONS.indexOf(fn);
    if (index < 0 || parts.length > 1 + ready.length) {
      throw new Error(
        `kernels/wasm_threads.ts: cannot run '${fn}' in ${parts.length} parts on ` +
          `${1 + ready.length} threads (threaded functions: ${THREADED_FUNCTIONS.join(", ")})`,
      );
    }
    if (parts.some((args) => args.length + 2 > SLOT_ARGS)) {
      throw new Error(`kernels/wasm_threads.ts: '${fn}' takes at most ${SLOT_ARGS - 2} arguments`);
    }
    const posted: number[] = [];
    // 1 … 2³¹ − 2, never −1 (the stop signal) or the 0 a helper starts from.
    const job = this.#job = this.#job % 0x7ffffffe + 1;
    for (let p = 1; p < parts.length; p++) {
      const h = ready[p - 1]!, args = parts[p]!, at = h * SLOT_ARGS;
      this.#args[at] = index;
      this.#args[at + 1] = args.length;
      this.#args.set(args, at + 2);
      Atomics.store(this.#control, h * SLOT_INTS + SEQ, job);
      Atomics.notify(this.#control, h * SLOT_INTS + SEQ);
      posted.push(h);
    }
    // Every posted part is waited for, even when another part failed: a helper still
    // writing into outputs tfjs has freed and handed out again would corrupt its heap.
    let failure: unknown;
    try {
      if (parts.length > 0) this.#caller[fn]!(...parts[0]!);
    } catch (e) {
      failure = e;
    }
    for (const h of posted) {
      try {
        this.#await(h, job);
      } catch (e) {
        failure ??= e;
      }
    }
    if (failure !== undefined) throw failure;
  }

  #await(h: number, job: number): void {
    const done = h * SLOT_INTS + DONE;
    for (let spin = 0; spin < SPINS; spin++) {
      if (Atomics.load(this.#control, done) === job) break;
    }
    const started = performance.now();
    while (Atomics.load(this.#control, done) !== job) {
      const seen = Atomics.load(this.#control, done);
      Atomics.wait(this.#control, done, seen, 1000);
      if (performance.now() - started > HELPER_TIMEOUT_MS) {
        this.#retire(h);
        throw new Error(
          `kernels/wasm_threads.ts: WASM helper thread ${h} has not finished its part ` +
            `in ${HELPER_TIMEOUT_MS / 1000} s; run with ${WASM_THREADS_ENV}=1 to use one thread`,
        );
      }
    }
    this.#partsDone++;
    if (Atomics.load(this.#control, h * SLOT_INTS + STATUS) !== 0) {
      const bytes = new Uint8Array(this.#messages, h * MESSAGE_BYTES, MESSAGE_BYTES).slice();
      const message = new TextDecoder().decode(bytes.subarray(0, bytes.indexOf(0)));
      throw new Error(
        `kernels/wasm_threads.ts: WASM helper thread ${h} failed on its part of a kernel: ` +
          `${message}; run with ${WASM_THREADS_ENV}=1 to use one thread`,
      );
    }
  }

  #helperScratch(h: number, n: number): number {
    const need = gemmScratchFloats(n), s = this.#scratch[h]!;
    if (need > s.floats) {
      if (s.at) this.#heap.free(s.at);
      s.floats = need;
      s.at = this.#heap.malloc(need * 4);
    }
    return s.at;
  }

  /** Stops the helpers and frees their scratch; later calls run on the caller alone. */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const stopped = this.#workers.map((worker, h) => {
      Atomics.store(this.#control, h * SLOT_INTS + SEQ, -1);
      Atomics.notify(this.#control, h * SLOT_INTS + SEQ);
      return worker.terminate();
    });
    // The scratch goes back to tfjs's heap once no helper can touch it.
    void Promise.allSettled(stopped).then(() => {
      for (const s of this.#scratch) if (s.at) this.#heap.free(s.at);
    });
  }
}
