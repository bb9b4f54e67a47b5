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
 * size, inode, modification and status-change times (a shard's as it was
 * opened, and the image member's name inside it, for WebDataset), the target
 * height, width, channels and fit, novalab's decode-pipeline version and
 * sharp's and libvips's versions. A rewritten file (even one whose size and
 * mtime were kept: the status-change time is the system's), another size or
 * another decoder therefore does not read an old entry. The key is stored in
 * the entry and compared on read, and the payload length checked: an entry
 * that does not match (a hash collision, a foreign file) is decoded again and
 * rewritten. Entries are written to a temporary file under `.tmp/`, synced and
 * renamed, so readers (other runs sharing the cache) never see half an entry,
 * even after a power loss; temporaries older than an hour (killed processes)
 * are removed when a cache is opened. When the cache cannot be written
 * (read-only, disk full) the run warns once and goes on decoding.
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
import type { DecodeOptions, RawPixels } from "./decode.ts";
import {
  type FileStamp,
  fileStamp,
  greyChannel,
  removeStaleTemporaries,
} from "./decoded_cache_files.ts";
import { loadSharp } from "./sharp.ts";

const MAGIC = "novalab-pixels 2\n";

/**
 * A 32-bit checksum of an entry's pixels (two running sums, Fletcher's idea
 * without the modulus): a flipped or swapped byte changes it, so a damaged
 * entry of the right length is rewritten instead of served.
 */
export function pixelChecksum(bytes: Uint8Array): string {
  let a = 1, b = 0;
  for (let i = 0; i < bytes.length; i++) {
    a = (a + bytes[i]!) | 0;
    b = (b + a) | 0;
  }
  return ((b ^ Math.imul(a, 0x9e3779b1)) >>> 0).toString(16).padStart(8, "0");
}
/** Temporary files of writes in progress, under the cache directory (same file system). */
const TMP_DIR = ".tmp";
/** Temporary files older than this are leftovers of killed processes, removed at `open`. */
const STALE_TMP_MS = 3_600_000;
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
  /** Member name inside an archive (WebDataset: `key.ext`), absent for image files. */
  member?: string;
  /** The file's stamp when its bytes were read (a shard, opened before its members decode). */
  stat?: FileStamp;
}

/** novalab's decode pipeline version: bump it when `data/decode.ts` changes what pixels come out. */
const PIPELINE_VERSION = 1;

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
    await removeStaleTemporaries(join(dir, TMP_DIR), STALE_TMP_MS);
    // Every library version counts (a codec upgrade can change pixels); hashed to keep keys short.
    const libraries = createHash("sha256").update(JSON.stringify(versions)).digest("hex");
    const decoder = `pipeline ${PIPELINE_VERSION}; sharp ${versions.sharp}; ` +
      `vips ${versions.vips}; libraries ${libraries.slice(0, 16)}`;
    return new DecodedImageCache(dir, decode, decoder);
  }

  /**
   * The entry of a source image. Synchronous (two `stat`s), so a caller can
   * queue the decode of a missing entry without yielding first.
   *
   * @param source The image's file (and archive member).
   * @throws Deno.errors.NotFound when the source file is missing.
   */
  entryFor(source: SourceIdentity): CacheEntry {
    const stamp = source.stat ?? fileStamp(Deno.statSync(source.path));
    const { height, width, channels, fit = "cover" } = this.#decode;
    const key = JSON.stringify({
      path: resolve(source.path),
      member: source.member,
      ...stamp,
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

  /**
   * Stores decoded pixels under the entry: written and synced to a temporary file
   * under `.tmp/`, then renamed into place. A failure is retried once (the cache
   * directory may have been removed meanwhile), then warns once and disables writes.
   */
  async write(entry: CacheEntry, pixels: RawPixels): Promise<void> {
    if (this.#writeFailed) return;
    const depth = pixels instanceof Uint16Array ? 16 : 8;
    const grey = this.#decode.channels === 3 ? greyChannel(pixels) : undefined;
    const stored = grey ?? pixels;
    const body = new Uint8Array(stored.buffer, stored.byteOffset, stored.byteLength);
    const tag = `${depth}${grey ? "g" : ""} ${pixelChecksum(body)}`;
    const header = encoder.encode(`${MAGIC}${entry.key}\n${tag}\n`);
    for (let attempt = 0;; attempt++) {
      try {
        await this.#store(entry.file, [header, body]);
        this.#stored++;
        return;
      } catch (e) {
        this.#madeDirs.clear();
        if (attempt === 0) continue;
        this.#writeFailed = true;
        console.warn(
          `data.cache: cannot write to the decoded-image cache "${this.#dir}" ` +
            `(${(e as Error).message}); going on without storing decoded images`,
        );
        return;
      }
    }
  }

  /** Writes `parts` to a synced temporary file and renames it to `file` (removed on failure). */
  async #store(file: string, parts: Uint8Array[]): Promise<void> {
    const tmpDir = join(this.#dir, TMP_DIR);
    for (const dir of [tmpDir, join(file, "..")]) {
      if (this.#madeDirs.has(dir)) continue;
      await Deno.mkdir(dir, { recursive: true });
      this.#madeDirs.add(dir);
    }
    const tmp = join(tmpDir, `${crypto.randomUUID()}.px`);
    try {
      using handle = await Deno.open(tmp, { write: true, createNew: true });
      for (const part of parts) {
        for (let n = 0; n < part.length;) n += await handle.write(part.subarray(n));
      }
      // Synced before the rename: after a power loss an entry is whole or absent, never a
      // right-length file of zeroed pages.
      await handle.sync();
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
    try {
      await Deno.rename(tmp, file);
    } catch (e) {
      await Deno.remove(tmp).catch(() => {});
      throw e;
    }
  }

  /** Whether this cache's entries hold images decoded with `decode` (size, channels, fit). */
  decodes(decode: DecodeOptions): boolean {
    const a = this.#decode, fit = (d: DecodeOptions) => d.fit ?? "cover";
    return a.height === decode.height && a.width === decode.width &&
      a.channels === decode.channels && fit(a) === fit(decode);
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
    const [tag = "", sum] = decoder.decode(bytes.subarray(keyEnd + 1, depthEnd)).split(" ");
    const replicate = tag.endsWith("g") && this.#decode.channels === 3 ? 3 : 1;
    const depth = replicate === 3 ? tag.slice(0, -1) : tag;
    const { height, width, channels } = this.#decode;
    const count = (height * width * channels) / replicate;
    const body = bytes.subarray(depthEnd + 1);
    if (sum !== pixelChecksum(body)) return undefined;
    if (depth === "8" && body.length === count) return { data: body, replicate };
    if (depth === "16" && body.length === 2 * count) {
      // Copied: the entry's offset may be odd.
      return { data: new Uint16Array(body.slice().buffer), replicate };
    }
    return undefined;
  }
}
