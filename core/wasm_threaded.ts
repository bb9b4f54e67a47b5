/**
 * Starting tfjs-backend-wasm's threaded SIMD build in Deno, for its shared
 * `WebAssembly.Memory`: novalab's WASM GEMM splits its products over helper
 * threads that work on that memory in place (`kernels/wasm_threads.ts`).
 *
 * tfjs does not pick that build in Deno by itself (it sees Node's `process`
 * and reports no thread support), and Emscripten's glue starts a pool of
 * eight pthread workers from a classic-worker blob URL, which Deno's workers
 * do not run. novalab needs neither the pool nor tfjs's own threads: tfjs is
 * told to use one thread (`setThreadsCount(1)`: XNNPACK creates no pthreads),
 * and while the backend initialises the glue's `Worker` is an idle stand-in
 * that answers the glue's "load" message and refuses anything else. tfjs's
 * kernels then run exactly as in the single-threaded build. The glue also
 * counts the cores once, through Node's `os.cpus()`, which needs `--allow-sys`
 * in Deno; during initialisation that count comes from
 * `navigator.hardwareConcurrency` (no permission) instead.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setThreadsCount } from "@tensorflow/tfjs-backend-wasm";
import os from "node:os";

/** A pthread worker of Emscripten's pool that never runs a thread. */
class IdlePthreadWorker {
  /** Set by the glue (web style). */
  onmessage: ((event: { data: unknown }) => void) | null = null;
  /** Set by the glue. */
  onerror: unknown = null;
  readonly #listeners: ((data: unknown) => void)[] = [];

  /** Node-style listener registration, as the glue uses under Deno. */
  on(event: string, listener: (data: unknown) => void): void {
    if (event === "message") this.#listeners.push(listener);
  }

  /** Answers "load" as a loaded worker would; any other command means a thread was asked for. */
  postMessage(message: { cmd?: string }): void {
    if (message?.cmd !== "load") {
      throw new Error(
        `core/wasm_threaded.ts: tfjs-backend-wasm asked its pthread pool to '${message?.cmd}'; ` +
          "novalab starts tfjs's threaded build with one thread and no pool. Run with " +
          "NOVALAB_WASM_THREADS=1 (tfjs's single-threaded build)",
      );
    }
    queueMicrotask(() => {
      const data = { cmd: "loaded" };
      if (this.#listeners.length) this.#listeners.forEach((listener) => listener(data));
      else this.onmessage?.({ data });
    });
  }

  /** Node-style; nothing to release. */
  unref(): void {}

  /** Node-style; nothing to keep. */
  ref(): void {}

  /** Nothing runs. */
  terminate(): void {}
}

/** True when this runtime can share WebAssembly memory between threads. */
export function sharedWasmMemorySupported(): boolean {
  try {
    const memory = new WebAssembly.Memory({ initial: 1, maximum: 1, shared: true });
    return memory.buffer instanceof SharedArrayBuffer;
  } catch {
    return false;
  }
}

/** `Worker` while tfjs initialises: the idle pool worker for the glue, the real one for anyone else. */
function standInWorker(real: typeof Worker | undefined): unknown {
  return class {
    constructor(url: string | URL, options?: WorkerOptions) {
      // The glue asks for a classic worker from a blob URL; module workers are someone else's.
      if (real && (options?.type === "module" || !String(url).startsWith("blob:"))) {
        return new real(url, options);
      }
      return new IdlePthreadWorker();
    }
  };
}

async function setWasmBackend(): Promise<boolean> {
  const ok = await tf.setBackend("wasm");
  if (ok) await tf.ready();
  return ok && tf.getBackend() === "wasm";
}

/**
 * Initialises the `wasm` backend from tfjs's threaded SIMD build with one
 * tfjs thread (its binaries' folder must be set already); returns whether the
 * backend is active. A backend already initialised is used as it is; when
 * the threaded build fails to start, the single-threaded one is tried.
 */
export async function activateThreadedWasm(): Promise<boolean> {
  if (tf.findBackend("wasm")) return await setWasmBackend();
  const own = Object.getOwnPropertyDescriptor(globalThis, "Worker");
  const cpus = os.cpus;
  let ok = false;
  try {
    tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", true);
    setThreadsCount(1);
    const cores = Math.max(1, navigator.hardwareConcurrency || 1);
    (os as { cpus: () => unknown[] }).cpus = () => Array.from({ length: cores }, () => ({}));
    // The glue assigns `global.Worker` (Node's) and then constructs pool workers:
    // both meet the stand-in until the backend is up.
    const standIn = standInWorker(own?.value as typeof Worker | undefined);
    Object.defineProperty(globalThis, "Worker", {
      configurable: true,
      get: () => standIn,
      set: () => {},
    });
    ok = await setWasmBackend();
  } catch {
    ok = false;
  } finally {
    os.cpus = cpus;
    if (own) Object.defineProperty(globalThis, "Worker", own);
    else delete (globalThis as { Worker?: unknown }).Worker;
  }
  if (ok) return true;
  tf.env().set("WASM_HAS_MULTITHREAD_SUPPORT", false);
  return await setWasmBackend();
}
