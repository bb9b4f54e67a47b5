/**
 * Filling the decoded-image cache ahead of training (`novalab cache <recipe>`):
 * every batch of the chosen splits is read once, in order (the next batch's
 * decodes queued before a batch is awaited), through the source's own loading path — so exactly the entries training will look up are
 * written (same files, size, channels, fit), bad inputs are found and reported
 * before any compute, and the first epoch of training already reads from the
 * cache instead of decoding full-size images.
 *
 * @module
 */
import type { DataSource } from "../core/types.ts";
import type { DecodedCacheStats } from "./decoded_cache.ts";
import { cacheStatsOf } from "./decoded_cache_use.ts";

/** What {@link warmDecodedCache} did per split. */
export interface WarmSplit {
  /** Split name. */
  split: string;
  /** Images read (decoded and stored, or found in the cache). */
  images: number;
  /** Wall time in seconds. */
  seconds: number;
}

/** Options of {@link warmDecodedCache}. */
export interface WarmOptions {
  /** Splits to fill (default: every split of the source). */
  splits?: string[];
  /** Images per batch request (default 256). */
  batch?: number;
  /** Called after every batch with the split, images done and the split's total. */
  onProgress?: (split: string, done: number, total: number) => void;
}

/**
 * Reads every batch of the chosen splits once so the source's decoded-image
 * cache holds them.
 *
 * @param source A source built with `data.cache` on (its `cacheStats()` is defined).
 * @param options Splits, batch size, progress callback.
 * @returns Per split counts and times, and the cache's counters afterwards.
 * @throws When the source has no cache, or a split does not exist (the message lists the splits).
 */
export async function warmDecodedCache(
  source: DataSource,
  options: WarmOptions = {},
): Promise<{ splits: WarmSplit[]; stats: DecodedCacheStats }> {
  if (!cacheStatsOf(source)) {
    throw new Error(
      `cache: source "${source.name}" has no decoded-image cache; only the file-backed kinds ` +
        "(manifest, image_folder, webdataset, mimic_cxr, chexpert, chestxray14) have one, and " +
        "only with data.cache: true (or a directory) in the recipe",
    );
  }
  const available = Object.keys(source.splits);
  const splits = options.splits ?? available;
  for (const split of splits) {
    if (!available.includes(split)) {
      throw new Error(
        `cache: source "${source.name}" has no split "${split}"; its splits: ${
          available.join(", ")
        }`,
      );
    }
  }
  const batchSize = options.batch ?? 256;
  const order = { batchSize, seed: 0, shuffle: false, dropLast: false };
  const done: WarmSplit[] = [];
  for (const split of splits) {
    const t0 = performance.now();
    const total = source.splits[split]!.size;
    if (total === 0) { // e.g. a WebDataset split whose shards are all unreadable
      done.push({ split, images: 0, seconds: 0 });
      continue;
    }
    const batches = source.batchesPerEpoch(split, order);
    let images = 0;
    const load = (k: number) => {
      const next = source.batch(split, k, order);
      next.catch(() => {}); // awaited below; a failure must not go unhandled meanwhile
      return next;
    };
    let pending = load(0);
    for (let k = 0; k < batches; k++) {
      // The next batch's decodes are queued before this one is awaited: two batches in flight.
      const next = k + 1 < batches ? load(k + 1) : undefined;
      const batch = await pending;
      if (next) pending = next;
      images += batch.image.shape[0];
      batch.image.dispose();
      options.onProgress?.(split, images, total);
    }
    done.push({ split, images, seconds: (performance.now() - t0) / 1000 });
  }
  return { splits: done, stats: cacheStatsOf(source)! };
}
