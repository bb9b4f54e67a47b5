/**
 * The `hf_text` module: a frozen contextual text tower (e.g. BERT,
 * ClinicalBERT, MiniLM) run by `@huggingface/transformers` (transformers.js)
 * as a `feature-extraction` pipeline with `cls` or `mean` pooling and an
 * optional L2 normalisation: `B` strings → `[B, H]`. No parameters.
 *
 * **Where the model comes from.** `model` is either a path to a model folder
 * or a model id looked up as `<model_dir>/<model>`; `model_dir` defaults to
 * `$NOVALAB_HF_MODELS`, else `<cacheDir>/hf_models`. A folder holds
 * `config.json`, `tokenizer.json`, `tokenizer_config.json` and
 * `onnx/model.onnx` (`model_fp16.onnx` for `dtype: fp16`, `model_quantized.onnx`
 * for `q8`). With `allow_remote: false` (the default: runs stay offline and
 * reproducible) a missing folder or file is an error that names every place
 * looked in and every missing file; with `allow_remote: true` transformers.js
 * downloads a hub id into `<cacheDir>/hf_hub` when it is not found locally.
 *
 * **Runtime.** transformers.js uses native onnxruntime-node (its npm package
 * ships the CPU binary for linux/macOS/windows, so no install script is needed)
 * and sharp, both loaded through Node-API: Deno needs `--allow-ffi`. A module's
 * `forward` is synchronous while the pipeline is asynchronous, so the pipeline
 * runs in a worker (`hf_text_worker.ts`) and `forward` blocks on it with
 * `Atomics.wait` over shared memory, for texts the cache does not hold.
 *
 * **Cache.** Pooled raw vectors are stored per text in a
 * {@link TextEmbeddingCache} keyed by tower (model location, dtype, and the
 * size and mtime of the ONNX file for local folders) and pooling, so each
 * distinct text is embedded once across runs; normalisation is applied after.
 *
 * @module
 */
import { z } from "zod";
import type { ModuleFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import type { BuildContext, ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import { TextEmbeddingCache } from "./text_cache.ts";
import { hostValue } from "../core/host_value.ts";
import { startHfWorker } from "./hf_text_bridge.ts";
import type { Tensor } from "../core/tensor.ts";

/** ONNX file of each dtype, as transformers.js names them. */
const ONNX_FILES: Record<string, string> = {
  fp32: "model.onnx",
  fp16: "model_fp16.onnx",
  q8: "model_quantized.onnx",
};

/** Validated parameters of `hf_text`. */
export interface HfTextParams {
  /** Model folder path, or model id under `model_dir` (or on the hub when online). */
  model: string;
  /** Root of local model folders (default `$NOVALAB_HF_MODELS`, else `<cacheDir>/hf_models`). */
  model_dir?: string;
  /** `cls` (first token) or `mean` (over real tokens). */
  pooling: "cls" | "mean";
  /** L2-normalise each output row. */
  normalize: boolean;
  /** Weights: `fp32`, `fp16` or `q8`. */
  dtype: "fp32" | "fp16" | "q8";
  /** Let transformers.js download from the Hugging Face hub. */
  allow_remote: boolean;
}

/** Where transformers.js will load a model from. */
export interface HfModelLocation {
  /** Id handed to `pipeline()` (relative to `localModelPath`). */
  id: string;
  /** Value of transformers.js `env.localModelPath`. */
  localModelPath: string;
  /** The local folder, when one was found. */
  folder?: string;
}

function isDir(path: string): boolean {
  try {
    return Deno.statSync(path).isDirectory;
  } catch {
    return false;
  }
}

function missingFiles(folder: string, dtype: string): string[] {
  const needed = [
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    `onnx/${ONNX_FILES[dtype]}`,
  ];
  return needed.filter((f) => {
    try {
      return !Deno.statSync(`${folder}/${f}`).isFile;
    } catch {
      return true;
    }
  });
}

/**
 * Resolves `params.model` to a local folder, or (online) to a hub id.
 *
 * @throws When offline and no complete folder exists: the message names the
 *   places looked in, the missing files and how to fix it.
 */
export function locateHfModel(params: HfTextParams, ctx: BuildContext): HfModelLocation {
  const pathLike = /^(\/|\.\.?\/|~)/.test(params.model) || isDir(params.model);
  const root = params.model_dir ?? Deno.env.get("NOVALAB_HF_MODELS") ??
    `${ctx.cacheDir || "."}/hf_models`;
  const folder = pathLike ? params.model.replace(/\/+$/, "") : `${root}/${params.model}`;
  const missing = isDir(folder) ? missingFiles(folder, params.dtype) : ["the folder itself"];
  if (missing.length === 0) {
    const cut = folder.lastIndexOf("/");
    return {
      id: folder.slice(cut + 1),
      localModelPath: cut > 0 ? folder.slice(0, cut) : ".",
      folder,
    };
  }
  if (params.allow_remote && !pathLike) return { id: params.model, localModelPath: root };
  throw new Error(
    `node "${ctx.name}" (hf_text): model "${params.model}" is not available offline; looked in ` +
      `${folder} — missing: ${missing.join(", ")}. Expected a transformers.js model folder ` +
      `(config.json, tokenizer.json, tokenizer_config.json, onnx/${ONNX_FILES[params.dtype]}). ` +
      `Put one there (e.g. a Hugging Face repo with its onnx/ export), point "model" or ` +
      `"model_dir" (or $NOVALAB_HF_MODELS) at it, or set allow_remote: true on a machine that is online`,
  );
}

/** Embeds texts synchronously: `B` texts → `[B, H]` row-major raw pooled vectors. */
export type SyncEmbedder = (texts: string[]) => Float32Array;

/** Options of {@link HfTextTower}. */
export interface HfTextTowerOptions {
  /** Node name (for messages). */
  name: string;
  /** Output width `H`. */
  dim: number;
  /** L2-normalise each output row. */
  normalize: boolean;
  /** Persistent cache of raw pooled vectors. */
  cache: TextEmbeddingCache;
  /** Computes vectors the cache lacks. */
  embed: SyncEmbedder;
  /** Releases the embedder (terminates the worker). */
  close?: () => void;
}

/** Frozen contextual tower: `B` strings → `[B, H]`, each distinct text embedded once. */
export class HfTextTower implements Module {
  /** Frozen: no trainable parameters. */
  readonly parameters: Parameter[] = [];
  #computed = 0;

  /** Wraps an embedder and a cache; see {@link HfTextTowerOptions}. */
  constructor(readonly options: HfTextTowerOptions) {}

  /** Number of texts this instance has sent to the model (cache misses). */
  get computed(): number {
    return this.#computed;
  }

  /** `B` strings → `[B, H]`. */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    const texts = inputs[0];
    const { name, dim } = this.options;
    if (!Array.isArray(texts)) {
      throw new Error(
        `node "${name}" (hf_text) expects a list of strings such as batch.caption, ` +
          `got a tensor of shape [${texts.shape.join(", ")}]`,
      );
    }
    // A host value: a replayed step (core/replayable_step.ts) embeds its own batch's texts.
    return hostValue((host) => this.#values(host.input(texts)), [texts.length, dim]);
  }

  /** The vectors of `texts`, `[B · H]` (computing those the cache lacks). */
  #values(texts: string[]): Float32Array {
    const { dim, cache } = this.options;
    const missing = [...new Set(texts.filter((t) => !cache.get(t)))];
    if (missing.length > 0) this.#compute(missing);
    const out = new Float32Array(texts.length * dim);
    texts.forEach((text, i) => {
      const v = cache.get(text)!;
      const scale = this.options.normalize ? 1 / (Math.hypot(...v) || 1) : 1;
      for (let k = 0; k < dim; k++) out[i * dim + k] = v[k]! * scale;
    });
    return out;
  }

  #compute(texts: string[]): void {
    const { dim, cache } = this.options;
    const flat = this.options.embed(texts);
    const records = texts.map((
      t,
      i,
    ): [string, Float32Array] => [t, flat.slice(i * dim, (i + 1) * dim)]);
    this.#computed += texts.length;
    try {
      cache.put(records);
    } catch (e) {
      console.warn(
        `hf_text: cannot write the embedding cache "${cache.path}" (${(e as Error).message}); ` +
          `continuing in memory — set a writable cache directory to keep it`,
      );
    }
  }

  /** Terminates the worker. */
  dispose(): void {
    this.options.close?.();
  }
}

/** The cache key's tower string: id, dtype and, for a local folder, its path and ONNX size + mtime. */
function towerKey(location: HfModelLocation, dtype: string): string {
  if (!location.folder) return `hf:${location.id}:${dtype}`;
  const stat = Deno.statSync(`${location.folder}/onnx/${ONNX_FILES[dtype]}`);
  const real = Deno.realPathSync(location.folder);
  return `hf:${location.id}:${dtype}:${real}:${stat.size}:${stat.mtime?.getTime() ?? 0}`;
}

/**
 * Builds an `hf_text` tower: locates the model (clear error when offline and
 * missing), starts the worker and loads the pipeline, opens the cache.
 *
 * @param params Validated parameters.
 * @param ctx Node name, input shapes (must be `[]`: a string list) and cache directory.
 */
export async function createHfTextTower(
  params: HfTextParams,
  ctx: BuildContext,
): Promise<HfTextTower> {
  const shape = ctx.inputShapes[0];
  if (shape && shape.length !== 0) {
    throw new Error(
      `node "${ctx.name}" (hf_text) expects a list of strings such as batch.caption, ` +
        `got an input of shape [${shape.join(", ")}]`,
    );
  }
  const location = locateHfModel(params, ctx);
  const worker = await startHfWorker(location, {
    name: ctx.name,
    dtype: params.dtype,
    allowRemote: params.allow_remote,
    hubCacheDir: `${ctx.cacheDir || "."}/hf_hub`,
  });
  const cache = new TextEmbeddingCache(ctx.cacheDir, {
    tower: towerKey(location, params.dtype),
    pooling: params.pooling,
  });
  return new HfTextTower({
    name: ctx.name,
    dim: worker.dim,
    normalize: params.normalize,
    cache,
    embed: (texts) => worker.embedSync(texts, params.pooling),
    close: () => worker.terminate(),
  });
}

const schema = z.strictObject({
  model: z.string().min(1).describe(
    "Model folder path, or model id under `model_dir` (or on the hub when online).",
  ),
  model_dir: z.string().min(1).optional().describe(
    "Root of local model folders (default `$NOVALAB_HF_MODELS`, else `<cacheDir>/hf_models`).",
  ),
  pooling: z.enum(["cls", "mean"]).default("mean").describe(
    "`cls` (first token) or `mean` (over real tokens).",
  ),
  normalize: z.boolean().default(false).describe("L2-normalise each output row."),
  dtype: z.enum(["fp32", "fp16", "q8"]).default("fp32").describe(
    "Weights: `fp32`, `fp16` or `q8` (which ONNX file is loaded).",
  ),
  allow_remote: z.boolean().default(false).describe(
    "Let transformers.js download from the Hugging Face hub (default: offline only).",
  ),
});

/** Module entries of the contextual text tower (`hf_text`). */
export const hfTextEntries: RegistryEntry<ModuleFactory>[] = [
  {
    kind: "hf_text",
    summary: "frozen transformers.js text tower (feature-extraction, cls|mean pooling): " +
      "strings → [B, H], cached per text",
    arity: [1, 1],
    input: "one reference: strings, such as `batch.caption`.",
    schema,
    create: (params: z.infer<typeof schema>, ctx) => createHfTextTower(params, ctx),
  },
];
