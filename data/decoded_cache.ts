/**
 * The decoded-image cache (`data.cache` of the file-backed kinds): each image
 * is decoded and resized once, its pixels at the recipe's size are stored on
 * disk, and later epochs and runs read them back instead of decoding the file
 * again. A 2048×2048 JPEG takes ≈ 10 ms of a core to decode and resize to 224
 * px; its 150 KB entry reads back in well under a millisecond (docs/data.md,
 * "Decoded-image cache"), so training at GPU speed on full-size radiographs is no
 * longer bound by JPEG decoding after the first epoch.
 *
 * An entry is named by a SHA-256 of its key: the source file's absolute path,
 * size and modification time (and the member name inside a WebDataset shard),
 * the target height, width, channels and fit, and the libvips version that
 * decoded it. A changed file, another size or another decoder therefore never
 * reads a stale entry. The key is stored in the entry and compared on read, and
 * the payload length checked: an entry that does not match (a truncated write
 * after a crash, a hash collision, a foreign file) is decoded again and
 * rewritten. Entries are written to a temporary file and renamed, so readers
 * (other runs sharing the cache) never see half an entry. When the cache cannot
 * be written (read-only, disk full) the run warns once and goes on decoding.
 *
 * Greyscale images decoded to three channels (R = G = B everywhere: every
 * radiograph) are stored with one channel and replicated when read, a third
 * of the space.
 *
 * Entry layout: `novalab-pixels 1\n`, the key as one JSON line, the bit depth
 * (`8` or `16`, then `g` when stored as one channel of a three-channel
 * decode) and a newline, then `H·W·C` pixels (`H·W` with `g`; 16-bit
 * little-endian).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { join, resolve } from "node:path";
import { type DecodeOptions, decodePixels, pixelsToUnit, type RawPixels } from "./decode.ts";
import { loadSharp } from "./sharp.ts";

const MAGIC = "novalab-pixels 1\n";
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Counters of a cache's use in this process. */
export interface DecodedCacheStats {
  /** The cache directory. */
  dir: string;
  /** Images read from the cache. */
  hits: number;
  /** Images decoded and stored. */
  stored: number;
  /** Entries that did not match their key or length (decoded again and rewritten). */
  invalid: number;
  /** Whether writing failed (the run went on without storing). */
  writeFailed: boolean;
}

/** Where the pixels of one source image live in the cache. */
export interface CacheEntry {
  /** The key stored in the entry (JSON). */
  key: string;
  /** The entry's file. */
  file: string;
  /** Whether the entry's file existed when the entry was looked up. */
  present: boolean;
}

/** Pixels read from an entry: the stored values and how often each is repeated (3: grey as RGB). */
export interface StoredPixels {
  /** The stored values. */
  data: RawPixels;
  /** Copies of each value in the decoded image: 1, or 3 for a grey image stored with one channel. */
  replicate: 1 | 3;
}

/** The identity of a source image: its file, and the member inside it for archives. */
export interface SourceIdentity {
  /** Path of the file holding the image (an image file or a tar shard). */
  path: string;
  /** Member name inside an archive (WebDataset), absent for image files. */
  member?: string;
}

/** A decoded-image cache directory for one decode setting (see the module doc). */
export class DecodedImageCache {
  readonly #dir: string;
  readonly #decode: DecodeOptions;
  readonly #decoder: string;
  readonly #madeDirs = new Set<string>();
  #writeFailed = false;
  #hits = 0;
  #stored = 0;
  #invalid = 0;

  private constructor(dir: string, decode: DecodeOptions, decoderVersion: string) {
    this.#dir = resolve(dir);
    this.#decode = decode;
    this.#decoder = decoderVersion;
  }

  /**
   * Opens (creating it if needed) the cache in `dir` for images decoded with
   * `decode`. Loads sharp, whose libvips version is part of every key.
   *
   * @param dir Cache directory (shared by runs and decode settings).
   * @param decode Target size, channels and fit of the source.
   */
  static async open(dir: string, decode: DecodeOptions): Promise<DecodedImageCache> {
    const sharp = await loadSharp();
    const versions = (sharp as unknown as { versions?: Record<string, string> }).versions ?? {};
    try {
      await Deno.mkdir(dir, { recursive: true });
    } catch (e) {
      const permission = e instanceof Deno.errors.NotCapable ||
        e instanceof Deno.errors.PermissionDenied;
      throw new Error(
        `data.cache: cannot create the decoded-image cache directory "${dir}": ` +
          `${(e as Error).message}; choose a writable directory or set cache: false` +
          (permission ? ` (or give Deno --allow-write for it)` : ""),
      );
    }
    return new DecodedImageCache(dir, decode, `vips ${versions.vips ?? "unknown"}`);
  }

  /**
   * The entry of a source image. Synchronous (two `stat`s), so a caller can
   * queue the decode of a missing entry without yielding first.
   *
   * @param source The image's file (and archive member).
   * @throws Deno.errors.NotFound when the source file is missing.
   */
  entryFor(source: SourceIdentity): CacheEntry {
    const stat = Deno.statSync(source.path);
    const { height, width, channels, fit = "cover" } = this.#decode;
    const key = JSON.stringify({
      path: resolve(source.path),
      member: source.member,
      size: stat.size,
      mtime: stat.mtime?.getTime() ?? null,
      height,
      width,
      channels,
      fit,
      decoder: this.#decoder,
    });
    const hash = createHash("sha256").update(key).digest("hex").slice(0, 40);
    const file = join(this.#dir, hash.slice(0, 2), `${hash}.px`);
    let present = true;
    try {
      Deno.statSync(file);
    } catch {
      present = false;
    }
    return { key, file, present };
  }

  /**
   * The entry's pixels, or `undefined` when it is absent or does not match
   * (then the caller decodes and {@link write}s it again).
   */
  async read(entry: CacheEntry): Promise<StoredPixels | undefined> {
    let bytes: Uint8Array;
    try {
      bytes = await Deno.readFile(entry.file);
    } catch {
      return undefined;
    }
    const pixels = this.#parse(bytes, entry.key);
    if (pixels) this.#hits++;
    else this.#invalid++;
    return pixels;
  }

  /** Stores decoded pixels under the entry (atomically; a failure warns once and disables writes). */
  async write(entry: CacheEntry, pixels: RawPixels): Promise<void> {
    if (this.#writeFailed) return;
    const depth = pixels instanceof Uint16Array ? 16 : 8;
    const grey = this.#decode.channels === 3 ? greyChannel(pixels) : undefined;
    const stored = grey ?? pixels;
    const header = encoder.encode(`${MAGIC}${entry.key}\n${depth}${grey ? "g" : ""}\n`);
    const body = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    const dir = join(entry.file, "..");
    const tmp = `${entry.file}.${crypto.randomUUID()}.tmp`;
    try {
      if (!this.#madeDirs.has(dir)) {
        await Deno.mkdir(dir, { recursive: true });
        this.#madeDirs.add(dir);
      }
      {
        using file = await Deno.open(tmp, { write: true, createNew: true });
        for (const part of [header, body]) {
          for (let n = 0; n < part.length;) n += await file.write(part.subarray(n));
        }
      }
      await Deno.rename(tmp, entry.file);
      this.#stored++;
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      this.#writeFailed = true;
      console.warn(
        `data.cache: cannot write to the decoded-image cache "${this.#dir}" ` +
          `(${(e as Error).message}); going on without storing decoded images`,
      );
    }
  }

  /** Counters of this process's use of the cache. */
  stats(): DecodedCacheStats {
    return {
      dir: this.#dir,
      hits: this.#hits,
      stored: this.#stored,
      invalid: this.#invalid,
      writeFailed: this.#writeFailed,
    };
  }

  /** The pixels of an entry's bytes when its header and length match `key`. */
  #parse(bytes: Uint8Array, key: string): StoredPixels | undefined {
    const magic = encoder.encode(MAGIC);
    if (bytes.length < magic.length || magic.some((b, i) => bytes[i] !== b)) return undefined;
    const keyEnd = bytes.indexOf(10, magic.length);
    const depthEnd = keyEnd < 0 ? -1 : bytes.indexOf(10, keyEnd + 1);
    if (depthEnd < 0) return undefined;
    if (decoder.decode(bytes.subarray(magic.length, keyEnd)) !== key) return undefined;
    const tag = decoder.decode(bytes.subarray(keyEnd + 1, depthEnd));
    const replicate = tag.endsWith("g") && this.#decode.channels === 3 ? 3 : 1;
    const depth = replicate === 3 ? tag.slice(0, -1) : tag;
    const { height, width, channels } = this.#decode;
    const count = (height * width * channels) / replicate;
    const body = bytes.subarray(depthEnd + 1);
    if (depth === "8" && body.length === count) return { data: body, replicate };
    if (depth === "16" && body.length === 2 * count) {
      // Copied: the entry's offset may be odd.
      return { data: new Uint16Array(body.slice().buffer), replicate };
    }
    return undefined;
  }
}

/** The first channel of interleaved RGB pixels when R = G = B everywhere, else `undefined`. */
export function greyChannel(pixels: RawPixels): RawPixels | undefined {
  for (let i = 0; i < pixels.length; i += 3) {
    if (pixels[i] !== pixels[i + 1] || pixels[i] !== pixels[i + 2]) return undefined;
  }
  const grey = pixels instanceof Uint16Array
    ? new Uint16Array(pixels.length / 3)
    : new Uint8Array(pixels.length / 3);
  for (let i = 0, j = 0; j < grey.length; i += 3, j++) grey[j] = pixels[i]!;
  return grey;
}

/** One image to decode into a batch through the cache. */
export interface CachedDecodeJob {
  /** Identity of the image (its file, or its shard and member). */
  source: SourceIdentity;
  /** The encoded image: its bytes, its path (sharp reads it), or a reader called on a miss. */
  input: Uint8Array | string | (() => Promise<Uint8Array>);
  /** Decode settings, destination (`out`, `offset`) and `path` for messages. */
  target: DecodeOptions & { out: Float32Array; offset: number; path: string };
}

/**
 * Decodes one image into `target.out` at `target.offset` through `cache`: a
 * stored entry is read back; otherwise the image is decoded (queued before the
 * first `await` when `input` is bytes or a path) and stored.
 *
 * @throws Deno.errors.NotFound when the source file is missing; `DecodeError` when it does not decode.
 */
export async function decodeCachedInto(
  cache: DecodedImageCache,
  job: CachedDecodeJob,
): Promise<void> {
  const entry = cache.entryFor(job.source);
  const stored = entry.present ? await cache.read(entry) : undefined;
  if (stored) return pixelsToUnit(stored.data, { ...job.target, replicate: stored.replicate });
  const input = typeof job.input === "function" ? await job.input() : job.input;
  const pixels = await decodePixels(input, job.target);
  pixelsToUnit(pixels, job.target);
  await cache.write(entry, pixels);
}

/** Formats a cache's counters as one console line. */
export function formatCacheStats(stats: DecodedCacheStats): string {
  const invalid = stats.invalid ? `, ${stats.invalid} stale or damaged entries rewritten` : "";
  const failed = stats.writeFailed ? " (writing failed; see the warning above)" : "";
  return `decoded-image cache ${stats.dir}: ${stats.hits} images read, ` +
    `${stats.stored} decoded and stored${invalid}${failed}`;
}

/**
 * The decoded-image cache counters of any data source that has a cache
 * (`cacheStats()` of the file-backed kinds), or `undefined`.
 *
 * @param source Any data source.
 */
export function cacheStatsOf(source: object): DecodedCacheStats | undefined {
  const s = source as { cacheStats?: () => DecodedCacheStats | undefined };
  return typeof s.cacheStats === "function" ? s.cacheStats() : undefined;
}
