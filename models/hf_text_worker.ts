/**
 * Worker side of `hf_text`: runs a `@huggingface/transformers`
 * `feature-extraction` pipeline off the main thread, so that the module's
 * synchronous `forward` can block on it (see `models/hf_text.ts`).
 *
 * Messages: `{ type: "load", … }` answers by `postMessage` with
 * `{ type: "loaded", dim }` or `{ type: "error", message }`; `{ type: "embed",
 * texts, pooling, control, data, error }` answers through shared memory: the
 * pooled vectors `[B, D]` go to `data` (float32), an error message to `error`
 * (UTF-8, length in `control[1]`), then `control[0]` becomes 1 (done) or 2
 * (failed) and is notified.
 *
 * @module
 */

/** What the worker needs to load a model. */
interface LoadRequest {
  type: "load";
  model: string;
  localModelPath: string;
  allowRemote: boolean;
  hubCacheDir: string;
  dtype: string;
}

/** One embedding request answered through shared memory. */
interface EmbedRequest {
  type: "embed";
  texts: string[];
  pooling: "cls" | "mean";
  control: SharedArrayBuffer;
  data: SharedArrayBuffer;
  error: SharedArrayBuffer;
}

type Extractor = (
  texts: string[],
  options: { pooling: string; normalize: boolean },
) => Promise<{ dims: number[]; data: Float32Array }>;

const scope = globalThis as unknown as {
  onmessage: ((event: MessageEvent) => void) | null;
  postMessage(message: unknown): void;
};
const CHUNK = 32;
let extractor: Extractor | undefined;

async function load(request: LoadRequest): Promise<number> {
  // A Deno worker has a `location` whose origin is "null" for file: URLs; the
  // onnxruntime-web bundle inside transformers.js evaluates `new URL(…, location.origin)`
  // on import and throws. The main thread has no `location`: make the worker match.
  Object.defineProperty(globalThis, "location", { value: undefined, configurable: true });
  const { env, pipeline } = await import("@huggingface/transformers");
  env.allowLocalModels = true;
  env.localModelPath = request.localModelPath;
  env.allowRemoteModels = request.allowRemote;
  env.cacheDir = request.hubCacheDir;
  const options = { dtype: request.dtype } as Record<string, unknown>;
  extractor = await pipeline("feature-extraction", request.model, options) as unknown as Extractor;
  const probe = await extractor(["a"], { pooling: "cls", normalize: false });
  return probe.dims.at(-1)!;
}

async function embed(request: EmbedRequest): Promise<void> {
  const out = new Float32Array(request.data);
  let at = 0;
  for (let i = 0; i < request.texts.length; i += CHUNK) {
    const chunk = request.texts.slice(i, i + CHUNK);
    const result = await extractor!(chunk, { pooling: request.pooling, normalize: false });
    out.set(result.data, at);
    at += result.data.length;
  }
  if (at !== out.length) {
    throw new Error(`expected ${out.length} floats from the pipeline, got ${at}`);
  }
}

function answer(request: EmbedRequest, failure?: unknown): void {
  const control = new Int32Array(request.control);
  if (failure !== undefined) {
    const text = new TextEncoder().encode(
      failure instanceof Error ? failure.message : String(failure),
    );
    const bytes = new Uint8Array(request.error);
    const n = Math.min(text.length, bytes.length);
    bytes.set(text.subarray(0, n));
    Atomics.store(control, 1, n);
  }
  Atomics.store(control, 0, failure === undefined ? 1 : 2);
  Atomics.notify(control, 0);
}

scope.onmessage = (event: MessageEvent) => {
  const request = event.data as LoadRequest | EmbedRequest;
  if (request.type === "load") {
    load(request).then(
      (dim) => scope.postMessage({ type: "loaded", dim }),
      (e) => scope.postMessage({ type: "error", message: (e as Error).message ?? String(e) }),
    );
  } else {
    embed(request).then(() => answer(request), (e) => answer(request, e ?? "unknown error"));
  }
};
