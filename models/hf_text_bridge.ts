/**
 * A synchronous bridge to the transformers.js worker of `hf_text`: the worker
 * loads the pipeline (asynchronously, awaited once at build time); afterwards
 * {@link HfWorker.embedSync} posts texts with three `SharedArrayBuffer`s and
 * blocks the calling thread on `Atomics.wait` until the worker has written the
 * vectors (Deno allows `Atomics.wait` on the main thread).
 *
 * @module
 */
import type { HfModelLocation } from "./hf_text.ts";

/** How long one embedding request may take before it is reported as hung. */
const EMBED_TIMEOUT_MS = 600_000;
/** Room for the worker's error message. */
const ERROR_BYTES = 4096;

/** A running transformers.js worker. */
export interface HfWorker {
  /** Output width `H` (measured on a probe text). */
  dim: number;
  /** `B` texts → `[B, H]` raw pooled vectors, row-major; blocks until done. */
  embedSync(texts: string[], pooling: "cls" | "mean"): Float32Array;
  /** Stops the worker. */
  terminate(): void;
}

/** Options of {@link startHfWorker}. */
export interface HfWorkerOptions {
  /** Node name (for messages). */
  name: string;
  /** `fp32`, `fp16` or `q8`. */
  dtype: string;
  /** Whether transformers.js may download. */
  allowRemote: boolean;
  /** transformers.js download cache (`env.cacheDir`). */
  hubCacheDir: string;
}

/**
 * The message telling the user to grant FFI, or `undefined` when it is granted.
 * onnxruntime-node and sharp are Node-API libraries: Deno loads them only with `--allow-ffi`.
 *
 * @param name Node name, for the message.
 * @param options `granted` overrides the permission query (tests).
 */
export function ffiProblem(name: string, options: { granted?: boolean } = {}): string | undefined {
  const granted = options.granted ??
    Deno.permissions.querySync({ name: "ffi" }).state === "granted";
  if (granted) return undefined;
  return `node "${name}" (hf_text) runs transformers.js on native onnxruntime-node and sharp, ` +
    `which Deno loads only with --allow-ffi; run with --allow-ffi ` +
    `(e.g. deno run --allow-ffi --allow-read --allow-env … or deno test --allow-ffi …)`;
}

function loadIn(worker: Worker, message: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    worker.onmessage = (event: MessageEvent) => {
      const reply = event.data as { type: string; dim?: number; message?: string };
      if (reply.type === "loaded") resolve(reply.dim!);
      else reject(new Error(reply.message ?? "unknown worker error"));
    };
    worker.onerror = (event: ErrorEvent) => {
      event.preventDefault();
      reject(new Error(event.message));
    };
    worker.postMessage(message);
  });
}

function embedSync(worker: Worker, request: { texts: string[]; pooling: string; dim: number }) {
  const control = new SharedArrayBuffer(8);
  const data = new SharedArrayBuffer(request.texts.length * request.dim * 4);
  const error = new SharedArrayBuffer(ERROR_BYTES);
  worker.postMessage({
    type: "embed",
    texts: request.texts,
    pooling: request.pooling,
    control,
    data,
    error,
  });
  const flag = new Int32Array(control);
  if (Atomics.wait(flag, 0, 0, EMBED_TIMEOUT_MS) === "timed-out") {
    throw new Error(`no answer from the transformers.js worker after ${EMBED_TIMEOUT_MS / 1000} s`);
  }
  if (Atomics.load(flag, 0) !== 1) {
    const n = Atomics.load(flag, 1);
    throw new Error(new TextDecoder().decode(new Uint8Array(error).slice(0, n)));
  }
  return new Float32Array(data).slice();
}

/**
 * Starts a worker and loads the model in it.
 *
 * @throws Without `--allow-ffi`, or when transformers.js cannot load the model
 *   (the message names the node, the model and transformers.js's reason).
 */
export async function startHfWorker(
  location: HfModelLocation,
  options: HfWorkerOptions,
): Promise<HfWorker> {
  const problem = ffiProblem(options.name);
  if (problem) throw new Error(problem);
  const worker = new Worker(new URL("./hf_text_worker.ts", import.meta.url), { type: "module" });
  let dim: number;
  try {
    dim = await loadIn(worker, {
      type: "load",
      model: location.id,
      localModelPath: location.localModelPath,
      allowRemote: options.allowRemote,
      hubCacheDir: options.hubCacheDir,
      dtype: options.dtype,
    });
  } catch (e) {
    worker.terminate();
    throw new Error(
      `node "${options.name}" (hf_text): transformers.js could not load "${location.id}" from ` +
        `${location.folder ?? `${location.localModelPath} or the hub`}: ${(e as Error).message}`,
    );
  }
  return {
    dim,
    embedSync: (texts, pooling) => {
      try {
        return embedSync(worker, { texts, pooling, dim });
      } catch (e) {
        throw new Error(
          `node "${options.name}" (hf_text): embedding failed: ${(e as Error).message}`,
        );
      }
    },
    terminate: () => worker.terminate(),
  };
}
