/**
 * Image decoding with `sharp` (libvips, native; Deno needs `--allow-ffi`,
 * `--allow-env` and `--allow-sys`): JPEG, PNG (8- or 16-bit, greyscale or
 * colour, alpha dropped), WebP, TIFF, … → `[H, W, C]` floats in `[0, 1]` at the
 * recipe's size.
 *
 * - **Size**: `fit: cover` (default) resizes the shorter side to the target and
 *   centre-crops — torchvision's `Resize` + `CenterCrop`; `contain` letterboxes
 *   on black; `fill` stretches. EXIF orientation is applied first.
 * - **Channels**: `channels: 3` (default) replicates a greyscale image into
 *   R = G = B; `channels: 1` converts colour to luminance (Rec. 601 weights,
 *   libvips `b-w`).
 * - **Depth**: 16-bit images keep 16-bit precision (divided by 65535, no
 *   windowing); 8-bit ones are divided by 255.
 * - **Strictness**: decoding fails on libvips *warnings* (`failOn: "warning"`),
 *   because a truncated JPEG only warns ("premature end of JPEG image") and
 *   would otherwise decode as a grey-padded image.
 *
 * @module
 */
import { loadedSharp, loadSharp } from "./sharp.ts";
import { type PixelBatch, unitTable } from "./pixel_batch.ts";

/** How to bring a decoded image to the target size. */
export type FitMode = "cover" | "contain" | "fill";

/** Options of {@link decodeImage}. */
export interface DecodeOptions {
  /** Output height in pixels. */
  height: number;
  /** Output width in pixels. */
  width: number;
  /** Output channels: 1 (luminance) or 3 (RGB; greyscale replicated). */
  channels: 1 | 3;
  /** Resize policy (default `cover`). */
  fit?: FitMode;
}

/** Thrown when bytes are not a decodable image; the message carries the decoder's reason. */
export class DecodeError extends Error {
  /** Creates the error for `path` with the decoder's message. */
  constructor(readonly path: string, detail: string) {
    super(`cannot decode image "${path}": ${detail}`);
    this.name = "DecodeError";
  }
}

/** First line of a libvips message (they repeat themselves over several lines). */
function firstLine(e: unknown): string {
  return String((e as Error)?.message ?? e).split("\n")[0]!.trim();
}

/**
 * Bit depth from the first bytes of a file: 8 for JPEG, the IHDR depth for
 * PNG, `undefined` for other formats (then sharp's metadata decides).
 */
export function peekDepth(header: Uint8Array): 8 | 16 | undefined {
  if (header[0] === 0xff && header[1] === 0xd8) return 8;
  const png = [0x89, 0x50, 0x4e, 0x47].every((b, i) => header[i] === b);
  if (png && header.length >= 25) return header[24] === 16 ? 16 : 8;
  return undefined;
}

/** The first 32 bytes of a file (a missing file throws `Deno.errors.NotFound`). */
function readHeader(path: string): Uint8Array {
  using file = Deno.openSync(path);
  const buf = new Uint8Array(32);
  const n = file.readSync(buf) ?? 0;
  return buf.subarray(0, n);
}

/** Decoded pixels at the target size, `H·W·C` row-major: 8-bit, or 16-bit for 16-bit sources. */
export type RawPixels = Uint8Array | Uint16Array;

/**
 * Decodes an image to raw pixels at the target size, channels and fit. Given a
 * path, sharp reads the file on its own worker thread: one asynchronous
 * operation per image, so every queued decode proceeds while the main thread is
 * busy with a training step.
 *
 * @param input The encoded bytes, or the file path (a missing file throws `Deno.errors.NotFound`).
 * @param options Target size, channels and fit, plus `path` (for messages).
 */
export async function decodePixels(
  input: Uint8Array | string,
  options: DecodeOptions & { path: string },
): Promise<RawPixels> {
  const { height, width, channels } = options;
  // No await before the decode is queued when sharp is loaded: the work starts on sharp's
  // threads right away, even if the caller then runs a long synchronous training step.
  const sharp = loadedSharp() ?? await loadSharp();
  const header = typeof input === "string" ? readHeader(input) : input.subarray(0, 32);
  try {
    const deep = (peekDepth(header) ??
      ((await sharp(input, { failOn: "warning" }).metadata()).depth === "ushort" ? 16 : 8)) === 16;
    const space = channels === 1 ? (deep ? "grey16" : "b-w") : (deep ? "rgb16" : "srgb");
    const img = sharp(input, { failOn: "warning" }).autoOrient()
      .resize(width, height, { fit: options.fit ?? "cover", background: { r: 0, g: 0, b: 0 } })
      .removeAlpha()
      .toColourspace(space);
    const { data: raw, info } = await img.raw(deep ? { depth: "ushort" } : {})
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== channels || info.width !== width || info.height !== height) {
      throw new Error(
        `decoder returned ${info.width}×${info.height}×${info.channels}, ` +
          `expected ${width}×${height}×${channels}`,
      );
    }
    return deep ? new Uint16Array(raw.buffer, raw.byteOffset, raw.byteLength / 2) : raw;
  } catch (e) {
    throw new DecodeError(options.path, firstLine(e));
  }
}

/** Where decoded pixels go: float32 values in `[0, 1]`, or a batch kept as integers. */
export type PixelTarget = Float32Array | PixelBatch;

/**
 * Writes raw pixels into `out` at `offset`: into a float32 array as values in
 * `[0, 1]` (8-bit `v / 255`, 16-bit `v / 65535`, rounded to float32), into a
 * {@link PixelBatch} as they are (converted when the batch becomes a tensor,
 * to the same values); with `replicate: 3`, each value is written three
 * times (a greyscale image stored with one channel, delivered as R = G = B).
 *
 * @param data Pixels from {@link decodePixels}.
 * @param at The destination, the offset of the first value, and the copies per value.
 */
export function pixelsToUnit(
  data: RawPixels,
  at: { out: PixelTarget; offset: number; replicate?: 1 | 3 },
): void {
  const { out, offset } = at;
  const replicate = at.replicate ?? 1;
  if (!(out instanceof Float32Array)) return out.put(offset, data, replicate);
  const table = unitTable(data instanceof Uint16Array ? 16 : 8);
  if (replicate === 3) {
    for (let i = 0, o = offset; i < data.length; i++, o += 3) {
      out[o] = out[o + 1] = out[o + 2] = table[data[i]!]!;
    }
    return;
  }
  for (let i = 0; i < data.length; i++) out[offset + i] = table[data[i]!]!;
}

/**
 * Decodes an image into `out` at `offset` (`H·W·C` values, row-major,
 * channels last: floats in `[0, 1]`, or integers kept by a {@link PixelBatch});
 * see {@link decodePixels}.
 *
 * @param input The encoded bytes, or the file path (a missing file throws `Deno.errors.NotFound`).
 * @param options Target size, channels and fit, plus `out`, `offset` and `path` (for messages).
 */
export async function decodeInto(
  input: Uint8Array | string,
  options: DecodeOptions & { out: PixelTarget; offset: number; path: string },
): Promise<void> {
  pixelsToUnit(await decodePixels(input, options), options);
}

/**
 * Decodes one image into a fresh `Float32Array` of `H·W·C` values in `[0, 1]`.
 *
 * @param bytes The encoded file.
 * @param options Target size, channels, fit, and `path` for messages.
 */
export async function decodeImage(
  bytes: Uint8Array,
  options: DecodeOptions & { path?: string },
): Promise<Float32Array> {
  const out = new Float32Array(options.height * options.width * options.channels);
  await decodeInto(bytes, { ...options, out, offset: 0, path: options.path ?? "<bytes>" });
  return out;
}

/**
 * Maps `fn` over `items` with at most `limit` calls in flight, keeping the order
 * of results. sharp decodes on libuv worker threads, so `limit` > 1 decodes in
 * parallel while JavaScript (and tfjs) keep running.
 *
 * @param items Inputs.
 * @param options `limit` (≥ 1) and the async `fn`.
 */
export async function mapLimit<T, R>(
  items: readonly T[],
  options: { limit: number; fn: (item: T, i: number) => Promise<R> },
): Promise<R[]> {
  const results = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      results[i] = await options.fn(items[i]!, i);
    }
  };
  const n = Math.max(1, Math.min(options.limit, items.length));
  await Promise.all(Array.from({ length: n }, worker));
  return results;
}
