/**
 * The vocabulary-subset cache file of the static word-vector towers
 * (`frozen_text`): format, parsing and serialisation. The format is documented
 * in `models/static_text.ts`.
 *
 * @module
 */

const FORMAT = "novalab-static-text/1";

/** The persistent vocabulary subset: known vectors and known-missing words. */
export interface VocabCache {
  /** Word → vector `[D]`. */
  vectors: Map<string, Float32Array>;
  /** Words known to be absent from the full table. */
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
export function decodeCache(
  text: string,
  tower: string,
  dimensions: number,
): VocabCache | undefined {
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

/** Serialises `cache` in the format described in the module docs. */
export function encodeCache(cache: VocabCache, tower: string, dimensions: number): string {
  const words = [...cache.vectors.keys()].sort();
  const floats = new Float32Array(words.length * dimensions);
  words.forEach((w, i) => floats.set(cache.vectors.get(w)!, i * dimensions));
  const littleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  if (!littleEndian) throw new Error("static text cache: big-endian hosts are not supported");
  const vectors = toBase64(new Uint8Array(floats.buffer));
  const missing = [...cache.missing].sort();
  return JSON.stringify({ format: FORMAT, tower, dimensions, words, missing, vectors });
}

/** Reads and parses a cache file; `undefined` when unreadable or not a match. */
export function readCacheSync(
  path: string,
  tower: string,
  dimensions: number,
): VocabCache | undefined {
  try {
    return decodeCache(Deno.readTextFileSync(path), tower, dimensions);
  } catch {
    return undefined;
  }
}

/**
 * Merges `cache` with the file at `path` (words learnt by other processes are
 * kept), then writes it atomically (temp file + rename).
 *
 * @throws When the file cannot be written (the temp file is removed).
 */
export function saveVocabCache(
  path: string,
  cache: VocabCache,
  options: { tower: string; dimensions: number },
): void {
  const { tower, dimensions } = options;
  const disk = readCacheSync(path, tower, dimensions);
  for (const [w, v] of disk?.vectors ?? []) {
    if (!cache.vectors.has(w)) cache.vectors.set(w, v);
  }
  for (const w of disk?.missing ?? []) {
    if (!cache.vectors.has(w)) cache.missing.add(w);
  }
  const tmp = `${path}.${Deno.pid}.${crypto.randomUUID().slice(0, 8)}.tmp`;
  try {
    Deno.mkdirSync(path.slice(0, path.lastIndexOf("/")) || ".", { recursive: true });
    Deno.writeTextFileSync(tmp, encodeCache(cache, tower, dimensions));
    Deno.renameSync(tmp, path);
  } catch (e) {
    try {
      Deno.removeSync(tmp);
    } catch {
      // the temp file was never created
    }
    throw e;
  }
}
