/**
 * Using the decoded-image cache (`data/decoded_cache.ts`) from a source: one
 * image decoded into a batch through it, and its counters for the console.
 *
 * @module
 */
import { decodePixels, pixelsToUnit } from "./decode.ts";
import type { DecodedCacheStats, DecodedImageCache, SourceIdentity } from "./decoded_cache.ts";
import type { DecodeOptions, PixelTarget } from "./decode.ts";

/** One image to decode into a batch through the cache. */
export interface CachedDecodeJob {
  /** Identity of the image (its file, or its shard and member). */
  source: SourceIdentity;
  /** The encoded image: its bytes, its path (sharp reads it), or a reader called on a miss. */
  input: Uint8Array | string | (() => Promise<Uint8Array>);
  /** Decode settings, destination (`out`, `offset`) and `path` for messages. */
  target: DecodeOptions & { out: PixelTarget; offset: number; path: string };
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
