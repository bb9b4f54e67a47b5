/**
 * The `webdataset` source: WebDataset tar shards (`{key}.jpg` + `{key}.txt`
 * or `{key}.json`, optionally `{key}.cls`), streamed with `tar-stream`.
 *
 * - **Shards**: a brace pattern or a list (`data/shard-{000..099}.tar`), per
 *   split (`{ train: …, test: … }`; a bare pattern is `train`).
 * - **Sample**: an image member (first of `image_ext`), a caption (`.txt`, else
 *   the `json_key` field of `.json`), and a label (`.cls` integer or the json
 *   `label` field, a class index or name) when `classes` is given. A sample
 *   without image or caption is a `bad_member`, an empty caption an
 *   `empty_caption`; an unreadable shard a `bad_member` for the shard.
 * - **Order**: when shuffling, the shard order is a seeded permutation per
 *   epoch and samples pass a seeded shuffle buffer of `shuffle_buffer`
 *   samples (WebDataset's `shuffle(n)`); evaluation reads shards in order.
 *   Batch `k` is samples `[bB, (b+1)B)` of epoch `⌊k / perEpoch⌋`'s stream, so
 *   batches are deterministic; reading them in order streams, jumping ahead
 *   (resume) replays the epoch's stream without decoding. `size` of a split
 *   is counted by one pass over its shards when the source is built.
 * - **Bad images**: an image that does not decode is reported, and its slot
 *   is filled with another image of the same batch (so later batches do not
 *   shift); its label is `-1` when reading in order.
 *
 * @module
 */
import { deriveSeed, Rng, shuffle as shuffleInPlace } from "../core/rng.ts";
import type { Batch, BatchOptions, DataSource, SplitInfo } from "../core/types.ts";
import { BadInputLog, type BadInputPolicy, type BadInputSummary } from "./bad_input.ts";
import { expandBraces } from "./braces.ts";
import { decodeInto, type DecodeOptions, type FitMode, mapLimit } from "./decode.ts";
import { PixelBatch } from "./pixel_batch.ts";
import { decodedCacheDir } from "./assemble.ts";
import { type DecodedCacheStats, DecodedImageCache } from "./decoded_cache.ts";
import { decodeCachedInto } from "./decoded_cache_use.ts";
import { batchesPerEpochOf } from "./file_source.ts";
import { shardSamples, type StreamSample, type WdsFields } from "./webdataset_stream.ts";

/** Validated parameters of the `webdataset` source. */
export interface WebDatasetParams extends WdsFields {
  /** Shard pattern(s), or split → pattern(s). */
  shards: string | string[] | Record<string, string | string[]>;
  /** Samples in the shuffle buffer (training order). */
  shuffle_buffer: number;
  /** Output side or `[height, width]`. */
  size: number | [number, number];
  /** 1 or 3 channels. */
  channels: 1 | 3;
  /** Resize policy. */
  fit: FitMode;
  /** Decodes in flight per batch. */
  concurrency: number;
  /** What to do with unusable samples. */
  bad_input: BadInputPolicy;
  /** Source name (default `webdataset`). */
  name?: string;
  /** Decoded-image cache: `true` (under the run's cache directory), a directory, or off. */
  cache?: boolean | string;
}

interface Cursor {
  key: string;
  position: number;
  stream: AsyncGenerator<StreamSample>;
}

function shardLists(shards: WebDatasetParams["shards"]): Record<string, string[]> {
  const bySplit = typeof shards === "string" || Array.isArray(shards) ? { train: shards } : shards;
  return Object.fromEntries(
    Object.entries(bySplit).map(([split, p]) => [split, [p].flat().flatMap(expandBraces)]),
  );
}

/** A streamed WebDataset source (see the module doc). */
export class WebDatasetSource implements DataSource {
  /** Source name. */
  readonly name: string;
  /** Class names (from `classes`; `[]` without labels). */
  readonly classNames: string[];
  /** No multi-label targets. */
  readonly labelNames: string[] = [];
  /** `[H, W, C]` of decoded images. */
  readonly imageShape: [number, number, number];
  /** Split sizes (counted samples). */
  readonly splits: Record<string, SplitInfo> = {};
  readonly #params: WebDatasetParams;
  readonly #shards: Record<string, string[]>;
  readonly #offsets = new Map<string, number>();
  readonly #log: BadInputLog;
  readonly #cursors = new Map<string, Cursor>();
  #queue: Promise<unknown> = Promise.resolve();
  #cache?: DecodedImageCache;

  /** Use {@link createWebDatasetSource} (it counts the samples and opens the cache). */
  constructor(params: WebDatasetParams) {
    this.#params = params;
    this.name = params.name ?? "webdataset";
    this.classNames = params.classes ?? [];
    const [h, w] = typeof params.size === "number" ? [params.size, params.size] : params.size;
    this.imageShape = [h, w, params.channels];
    this.#shards = shardLists(params.shards);
    this.#log = new BadInputLog(this.name, { policy: params.bad_input });
  }

  /** Counts every split's samples (one pass over the shards). */
  async count(): Promise<void> {
    for (const [split, shards] of Object.entries(this.#shards)) {
      let n = 0;
      for (const shard of shards) {
        this.#offsets.set(shard, n);
        for await (const _ of this.#samples([shard])) n++;
      }
      this.splits[split] = { size: n };
    }
  }

  /** Batches per epoch of a split. */
  batchesPerEpoch(split: string, options: BatchOptions): number {
    return batchesPerEpochOf(this.#size(split), { ...options, name: this.name, split });
  }

  /** Batch `batchIndex` of the split's deterministic stream (serialised per source). */
  batch(split: string, batchIndex: number, options: BatchOptions): Promise<Batch> {
    const run = this.#queue.then(() => this.#batch(split, batchIndex, options));
    this.#queue = run.catch(() => {});
    return run;
  }

  /** Bad inputs met so far. */
  badInputs(): BadInputSummary {
    return this.#log.summary();
  }

  /** Uses `cache` for decoded images (the source's decode settings must match the cache's). */
  useCache(cache: DecodedImageCache): void {
    const [height, width] = this.imageShape;
    const mine = { height, width, channels: this.#params.channels, fit: this.#params.fit };
    if (!cache.decodes(mine)) {
      throw new Error(
        `${this.name}: the decoded-image cache was opened for other decode settings than ` +
          `${JSON.stringify(mine)}; open it with the source's size, channels and fit`,
      );
    }
    this.#cache = cache;
  }

  /** Counters of the decoded-image cache, `undefined` without one. */
  cacheStats(): DecodedCacheStats | undefined {
    return this.#cache?.stats();
  }

  /** Closes open shard streams. */
  dispose(): void {
    for (const c of this.#cursors.values()) void c.stream.return(undefined);
    this.#cursors.clear();
  }

  #size(split: string): number {
    const info = this.splits[split];
    if (!info) {
      throw new Error(
        `${this.name} has no split "${split}"; expected one of: ${
          Object.keys(this.splits).join(", ")
        }`,
      );
    }
    return info.size;
  }

  #samples(shards: string[]): AsyncGenerator<StreamSample> {
    return shardSamples(shards, { fields: this.#params, log: this.#log, offsets: this.#offsets });
  }

  async *#epoch(split: string, o: BatchOptions, epoch: number): AsyncGenerator<StreamSample> {
    const shards = [...this.#shards[split]!];
    if (!o.shuffle) return yield* this.#samples(shards);
    const rng = new Rng(deriveSeed(o.seed, "webdataset", split, epoch));
    shuffleInPlace(shards, rng);
    const buffer: StreamSample[] = [];
    for await (const s of this.#samples(shards)) {
      if (buffer.length < this.#params.shuffle_buffer) {
        buffer.push(s);
        continue;
      }
      const i = rng.int(buffer.length);
      yield buffer[i]!;
      buffer[i] = s;
    }
    while (buffer.length) {
      const i = rng.int(buffer.length);
      yield buffer[i]!;
      buffer[i] = buffer[buffer.length - 1]!;
      buffer.pop();
    }
  }

  /** The cursor of `split` positioned at sample `position` of `epoch`. */
  async #seek(split: string, o: BatchOptions, at: { epoch: number; position: number }) {
    const key = `${o.seed}/${o.shuffle}/${at.epoch}`;
    let cursor = this.#cursors.get(split);
    if (!cursor || cursor.key !== key || cursor.position > at.position) {
      if (cursor) await cursor.stream.return(undefined);
      cursor = { key, position: 0, stream: this.#epoch(split, o, at.epoch) };
      this.#cursors.set(split, cursor);
    }
    while (cursor.position < at.position && !(await cursor.stream.next()).done) cursor.position++;
    return cursor;
  }

  async #batch(split: string, batchIndex: number, o: BatchOptions): Promise<Batch> {
    const perEpoch = this.batchesPerEpoch(split, o);
    if (!Number.isSafeInteger(batchIndex) || batchIndex < 0) {
      throw new RangeError(`batchIndex must be a non-negative integer, got ${batchIndex}`);
    }
    const epoch = Math.floor(batchIndex / perEpoch);
    const position = (batchIndex - epoch * perEpoch) * o.batchSize;
    const cursor = await this.#seek(split, o, { epoch, position });
    const taken: StreamSample[] = [];
    while (taken.length < o.batchSize) {
      const next = await cursor.stream.next();
      if (next.done) break;
      taken.push(next.value);
      cursor.position++;
    }
    if (taken.length === 0) {
      throw new Error(`${this.name}: split "${split}" stream ended before batch ${batchIndex}`);
    }
    return await this.#decode(taken, o);
  }

  async #decode(samples: StreamSample[], o: BatchOptions): Promise<Batch> {
    const [height, width] = this.imageShape;
    const channels = this.#params.channels;
    const per = height * width * channels;
    const decode: DecodeOptions = { height, width, channels, fit: this.#params.fit };
    const pixels = new PixelBatch(samples.length, [height, width, channels]);
    const ok = await mapLimit(samples, {
      limit: this.#params.concurrency,
      fn: async (s, j) => {
        const target = { ...decode, out: pixels, offset: j * per, path: s.where };
        try {
          if (this.#cache) {
            await decodeCachedInto(this.#cache, { source: s.origin, input: s.image, target });
          } else await decodeInto(s.image, target);
          return true;
        } catch (e) {
          this.#log.report({ path: s.where, reason: "decode_error", detail: (e as Error).message });
          return false;
        }
      },
    });
    const good = ok.flatMap((v, j) => (v ? [j] : []));
    if (good.length === 0) {
      throw new Error(`${this.name}: no image of a batch of ${samples.length} decodes`);
    }
    const source = ok.map((v, j) => (v ? j : good.find((g) => g > j) ?? good[0]!));
    source.forEach((src, j) => {
      if (src !== j) pixels.copyWithin(j * per, src * per, (src + 1) * per);
    });
    const label = Int32Array.from(
      source,
      (src, j) => (!o.shuffle && src !== j ? -1 : samples[src]!.label),
    );
    return {
      image: pixels.toTensor({ host: o.hostPixels }),
      caption: source.map((src) => samples[src]!.caption),
      label,
      index: Int32Array.from(source, (src) => samples[src]!.index),
    };
  }
}

/**
 * Builds the `webdataset` source and counts its samples.
 *
 * @param params See {@link WebDatasetParams}.
 * @param ctx The run's cache directory (for `cache: true`).
 */
export async function createWebDatasetSource(
  params: WebDatasetParams,
  ctx: { cacheDir?: string } = {},
): Promise<WebDatasetSource> {
  const source = new WebDatasetSource(params);
  await source.count();
  const dir = decodedCacheDir(params.cache, ctx.cacheDir);
  if (dir !== undefined) {
    const [height, width] = source.imageShape;
    const channels = params.channels;
    source.useCache(
      await DecodedImageCache.open(dir, { height, width, channels, fit: params.fit }),
    );
  }
  return source;
}
