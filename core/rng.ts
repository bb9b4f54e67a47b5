/**
 * Deterministic randomness: seed derivation by hashing, a small seeded PRNG and
 * an in-place Fisher–Yates shuffle. Everything here is pure integer arithmetic
 * (`Math.imul`, shifts), so results are identical across runs, platforms and
 * backends.
 *
 * @module
 */

/** Rotates a 32-bit integer left by `r` bits. */
function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** MurmurHash3's 32-bit finaliser: full avalanche of a 32-bit state. */
function fmix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** One MurmurHash3 body round: mixes the 32-bit word `k` into the state `h`. */
function mixWord(h: number, k: number): number {
  k = Math.imul(k, 0xcc9e2d51);
  k = rotl(k, 15);
  k = Math.imul(k, 0x1b873593);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

const encoder = new TextEncoder();
const TAG_INT = 0x1;
const TAG_FLOAT = 0x2;
const TAG_STRING = 0x3;
const TWO_32 = 4294967296;

/** Mixes a number: safe integers as two 32-bit words, other finite numbers by their float64 bits. */
function mixNumber(h: number, x: number): number {
  if (Number.isSafeInteger(x)) {
    h = mixWord(h, TAG_INT);
    h = mixWord(h, x >>> 0);
    return mixWord(h, Math.floor(x / TWO_32) | 0);
  }
  const words = new Uint32Array(new Float64Array([x]).buffer);
  // Fixed word order (low word first on little-endian hosts; swap on big-endian ones).
  const le = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
  h = mixWord(h, TAG_FLOAT);
  h = mixWord(h, le ? words[0] : words[1]);
  return mixWord(h, le ? words[1] : words[0]);
}

/** Mixes a string: its UTF-8 bytes (little-endian 32-bit words, zero-padded) and length. */
function mixString(h: number, s: string): number {
  const bytes = encoder.encode(s);
  h = mixWord(h, TAG_STRING);
  h = mixWord(h, bytes.length);
  for (let i = 0; i < bytes.length; i += 4) {
    const w = bytes[i] | (bytes[i + 1] ?? 0) << 8 | (bytes[i + 2] ?? 0) << 16 |
      (bytes[i + 3] ?? 0) << 24;
    h = mixWord(h, w);
  }
  return h;
}

/** Told of every derived seed (see {@linkcode onSeedDerived}). */
export type SeedListener = (
  seed: number,
  parent: number,
  parts: readonly (string | number)[],
) => void;
const seedListeners = new Set<SeedListener>();

/**
 * Calls `listener` with every seed {@linkcode deriveSeed} makes (the seed,
 * its parent and parts) until the returned function is called: how a
 * recorded step learns where its seeds come from (`core/step_host.ts`).
 */
export function onSeedDerived(listener: SeedListener): () => void {
  seedListeners.add(listener);
  return () => seedListeners.delete(listener);
}

/**
 * Derives an independent 32-bit seed from a parent seed and a path of parts,
 * e.g. `deriveSeed(recipeSeed, "sigreg", step)` or `deriveSeed(seed, "init", "image")`.
 *
 * A MurmurHash3-style hash over typed words (numbers and strings are tagged, so
 * `1` and `"1"` differ; order matters), finished with MurmurHash3's `fmix32`.
 * Stable across runs, platforms and versions of this library (golden values are
 * pinned by tests).
 *
 * @param seed The parent seed: any safe integer (negative allowed).
 * @param parts Strings and finite numbers naming the purpose of the derived seed.
 * @returns An unsigned 32-bit integer in `[0, 2^32)`.
 */
export function deriveSeed(seed: number, ...parts: (string | number)[]): number {
  const out = derive(seed, parts);
  for (const listener of seedListeners) listener(out, seed, parts);
  return out;
}

function derive(seed: number, parts: (string | number)[]): number {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(
      `deriveSeed: seed must be a safe integer, got ${seed}; use an integer such as 0 or 42`,
    );
  }
  let h = mixNumber(0x9747b28c, seed);
  for (const [i, part] of parts.entries()) {
    if (typeof part === "string") h = mixString(h, part);
    else if (typeof part === "number" && Number.isFinite(part)) h = mixNumber(h, part);
    else {
      throw new TypeError(
        `deriveSeed: part ${i} is ${
          String(part)
        } (${typeof part}); expected a string or a finite number`,
      );
    }
  }
  return fmix32(h ^ parts.length);
}

/** The state of an {@linkcode Rng}: four 32-bit words plus a cached normal deviate. */
export interface RngState {
  /** xoshiro128** state words (unsigned 32-bit). */
  s: [number, number, number, number];
  /** The spare normal deviate of the last Box–Muller pair, or `null`. */
  spare: number | null;
}

/**
 * A small seeded PRNG (xoshiro128**, state initialised from the seed by
 * splitmix32). Not cryptographic. Same seed → same sequence on every platform.
 */
export class Rng {
  #s: [number, number, number, number];
  #spare: number | null = null;

  /**
   * Seeds a new generator.
   *
   * @param seed Any safe integer (hashed with {@linkcode deriveSeed} first, so nearby seeds decorrelate).
   */
  constructor(seed: number) {
    let x = deriveSeed(seed);
    const words: number[] = [];
    for (let i = 0; i < 4; i++) {
      x = (x + 0x9e3779b9) | 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x21f0aaad);
      z = Math.imul(z ^ (z >>> 15), 0x735a2d97);
      words.push((z ^ (z >>> 15)) >>> 0);
    }
    if ((words[0] | words[1] | words[2] | words[3]) === 0) words[0] = 1;
    this.#s = words as [number, number, number, number];
  }

  /** Next raw unsigned 32-bit integer in `[0, 2^32)`. */
  nextUint32(): number {
    const s = this.#s;
    const result = Math.imul(rotl(Math.imul(s[1], 5), 7), 9);
    const t = s[1] << 9;
    s[2] ^= s[0];
    s[3] ^= s[1];
    s[1] ^= s[2];
    s[0] ^= s[3];
    s[2] ^= t;
    s[3] = rotl(s[3], 11);
    return result >>> 0;
  }

  /** Uniform double in `[0, 1)` with 53 random bits. */
  next(): number {
    const hi = this.nextUint32() >>> 5; // 27 bits
    const lo = this.nextUint32() >>> 6; // 26 bits
    return (hi * 67108864 + lo) / 9007199254740992;
  }

  /** Standard normal deviate (Box–Muller; the second value of each pair is cached). */
  normal(): number {
    if (this.#spare !== null) {
      const z = this.#spare;
      this.#spare = null;
      return z;
    }
    const u1 = 1 - this.next(); // (0, 1]: log is finite
    const u2 = this.next();
    const r = Math.sqrt(-2 * Math.log(u1));
    this.#spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }

  /**
   * Uniform integer in `[0, n)` without modulo bias (rejection sampling).
   *
   * @param n Exclusive upper bound: an integer in `[1, 2^32]`.
   */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_32) {
      throw new RangeError(`Rng.int: n must be an integer in [1, 2^32], got ${n}`);
    }
    const limit = TWO_32 - (TWO_32 % n); // accept x < limit: a whole number of copies of [0, n)
    for (;;) {
      const x = this.nextUint32();
      if (x < limit) return x % n;
    }
  }

  /** A snapshot of the generator (for checkpoints); restore with {@linkcode Rng.fromState}. */
  state(): RngState {
    const [a, b, c, d] = this.#s;
    return { s: [a >>> 0, b >>> 0, c >>> 0, d >>> 0], spare: this.#spare };
  }

  /** Rebuilds a generator from a {@linkcode RngState} snapshot. */
  static fromState(state: RngState): Rng {
    const ok = Array.isArray(state?.s) && state.s.length === 4 &&
      state.s.every((w) => Number.isInteger(w) && w >= 0 && w < TWO_32) &&
      state.s.some((w) => w !== 0);
    if (!ok) {
      throw new RangeError(
        `Rng.fromState: expected s = four unsigned 32-bit integers, not all zero; got ${
          JSON.stringify(state?.s)
        }`,
      );
    }
    const rng = new Rng(0);
    rng.#s = [...state.s];
    rng.#spare = state.spare ?? null;
    return rng;
  }
}

/**
 * Shuffles `indices` in place (Fisher–Yates) and returns the same array.
 *
 * @param indices The array to permute (e.g. `Int32Array` of sample indices).
 * @param rng The generator that decides the order.
 */
export function shuffle<T extends { length: number; [i: number]: unknown }>(
  indices: T,
  rng: Rng,
): T {
  for (let i = indices.length - 1; i > 0; i--) {
    const j = rng.int(i + 1);
    const tmp = indices[i];
    indices[i] = indices[j];
    indices[j] = tmp;
  }
  return indices;
}
