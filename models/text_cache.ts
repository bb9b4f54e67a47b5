/**
 * On-disk cache of frozen-tower text embeddings, keyed by tower, pooling and
 * text: each distinct text is embedded once, ever; later batches, runs and
 * processes read the stored vector. Used by `frozen_text` (GloVe) and
 * `hf_text` (transformers.js).
 *
 * One file per (tower, pooling) under `<cacheDir>/text_embeddings/`, named
 * `<readable tower>.<pooling>.<hash of the key>.bin`:
 *
 * ```text
 * {"format":"novalab-text-embeddings/1","tower":"…","pooling":"…"}\n   header line (UTF-8 JSON)
 * record*: u32 n (text bytes) · n bytes UTF-8 text · u32 m (floats) · m × f32   little-endian
 * ```
 *
 * A record holds the raw (un-normalised) output of the tower for one text, `m`
 * floats (`D` for pooled outputs, `n_tokens × D` for token outputs; the reader
 * does not care). Writes append whole records with one `write` call per batch
 * (`O_APPEND`), so processes sharing the directory do not corrupt each other;
 * a torn final record (a crash mid-write) is ignored, a later record for the same
 * text wins, and a file with another header (other tower, other format) or a
 * corrupt one is ignored and replaced. A file with a torn tail is rewritten whole
 * (temp + rename) on the next write rather than appended to. An empty
 * `cacheDir` keeps everything in memory.
 *
 * @module
 */
import { fnv1a } from "../core/fnv1a.ts";

const FORMAT = "novalab-text-embeddings/1";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** What a cache file is keyed by (besides each record's text). */
export interface TextCacheKey {
  /** Tower identity, e.g. `glove-100d` or `hf:<model location>:fp32`. */
  tower: string;
  /** Pooling of the stored vectors, e.g. `mean`, `cls`, `tokens`. */
  pooling: string;
}

/**
 * The cache file of `key` under `cacheDir` (`""` when `cacheDir` is empty).
 *
 * @returns e.g. `<cacheDir>/text_embeddings/glove-100d.mean.1a2b3c4d.bin`.
 */
export function textCachePath(cacheDir: string, key: TextCacheKey): string {
  if (!cacheDir) return "";
  const readable = key.tower.replace(/[^A-Za-z0-9_-]+/g, "_").slice(0, 48);
  const pooling = key.pooling.replace(/[^A-Za-z0-9_-]+/g, "_");
  return `${cacheDir}/text_embeddings/${readable}.${pooling}.${fnv1a(JSON.stringify(key))}.bin`;
}

function header(key: TextCacheKey): Uint8Array {
  return encoder.encode(JSON.stringify({ format: FORMAT, ...key }) + "\n");
}

/** A parsed cache file: its records, and whether it ended on a record boundary. */
interface Parsed {
  entries: Map<string, Float32Array>;
  complete: boolean;
}

/** Parses a cache file; `undefined` when its header does not match `key`. */
function parse(bytes: Uint8Array, key: TextCacheKey): Parsed | undefined {
  const newline = bytes.indexOf(10);
  if (newline < 0) return undefined;
  try {
    const head = JSON.parse(decoder.decode(bytes.subarray(0, newline)));
    if (head.format !== FORMAT || head.tower !== key.tower || head.pooling !== key.pooling) return;
  } catch {
    return undefined;
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const entries = new Map<string, Float32Array>();
  let at = newline + 1;
  while (at + 4 <= bytes.length) {
    const n = view.getUint32(at, true);
    if (at + 8 + n > bytes.length) break;
    const text = decoder.decode(bytes.subarray(at + 4, at + 4 + n));
    const m = view.getUint32(at + 4 + n, true);
    const start = at + 8 + n;
    if (start + 4 * m > bytes.length) break; // torn final record
    const values = new Float32Array(m);
    for (let i = 0; i < m; i++) values[i] = view.getFloat32(start + 4 * i, true);
    entries.set(text, values);
    at = start + 4 * m;
  }
  return { entries, complete: at === bytes.length };
}

function encodeRecords(records: [string, Float32Array][]): Uint8Array {
  const parts = records.map(([text, values]) => [encoder.encode(text), values] as const);
  const size = parts.reduce((s, [t, v]) => s + 8 + t.length + 4 * v.length, 0);
  const out = new Uint8Array(size);
  const view = new DataView(out.buffer);
  let at = 0;
  for (const [text, values] of parts) {
    view.setUint32(at, text.length, true);
    out.set(text, at + 4);
    view.setUint32(at + 4 + text.length, values.length, true);
    at += 8 + text.length;
    for (const v of values) {
      view.setFloat32(at, v, true);
      at += 4;
    }
  }
  return out;
}

/** The persistent text → vector map of one (tower, pooling). */
export class TextEmbeddingCache {
  /** The cache file (`""` when in memory only). */
  readonly path: string;
  /** Number of texts read from disk when the cache was opened. */
  readonly loaded: number;
  readonly #entries: Map<string, Float32Array>;
  #rewrite: boolean;
  #written = 0;

  /**
   * Opens (reads) the cache file of `key` under `cacheDir`; a missing,
   * corrupt or foreign file gives an empty cache.
   *
   * @param cacheDir Cache root (`""`: in memory only).
   * @param key Tower and pooling.
   */
  constructor(cacheDir: string, readonly key: TextCacheKey) {
    this.path = textCachePath(cacheDir, key);
    let found: Parsed | undefined;
    if (this.path) {
      try {
        found = parse(Deno.readFileSync(this.path), key);
      } catch {
        found = undefined;
      }
    }
    // A missing, foreign or corrupt file, or one with a torn tail, is rewritten on first put.
    this.#rewrite = !found?.complete;
    this.#entries = found?.entries ?? new Map();
    this.loaded = this.#entries.size;
  }

  /** Number of texts held. */
  get size(): number {
    return this.#entries.size;
  }

  /** Records appended to the file by this instance. */
  get written(): number {
    return this.#written;
  }

  /** The stored vector of `text`, if any (do not modify it). */
  get(text: string): Float32Array | undefined {
    return this.#entries.get(text);
  }

  /**
   * Stores vectors and appends them to the file in one write.
   *
   * @throws When the file cannot be written (the vectors stay in memory).
   */
  put(records: [string, Float32Array][]): void {
    if (records.length === 0) return;
    for (const [text, values] of records) this.#entries.set(text, values);
    if (!this.path) return;
    Deno.mkdirSync(this.path.slice(0, this.path.lastIndexOf("/")), { recursive: true });
    if (this.#rewrite) {
      // Header and every record held (the new ones included): temp file + rename.
      const tmp = `${this.path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
      const head = header(this.key), body = encodeRecords([...this.#entries]);
      const file = new Uint8Array(head.length + body.length);
      file.set(head);
      file.set(body, head.length);
      try {
        Deno.writeFileSync(tmp, file);
        Deno.renameSync(tmp, this.path);
      } catch (e) {
        try {
          Deno.removeSync(tmp);
        } catch {
          // the temp file was never created
        }
        throw e;
      }
      this.#rewrite = false;
    } else {
      Deno.writeFileSync(this.path, encodeRecords(records), { append: true });
    }
    this.#written += records.length;
  }
}
