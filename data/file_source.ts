/**
 * {@link FileImageSource}: the random-access data source behind every
 * file-backed kind (manifests, image folders, MIMIC-CXR, CheXpert). It holds a
 * list of {@link SampleRecord}s per split (paths, caption choices, labels) and
 * decodes a batch's images when the batch is asked for, with bounded
 * concurrency (`concurrency` decodes in flight on sharp's worker threads). The
 * decodes are queued synchronously inside `batch()` (sharp reads the files
 * itself), so with `concurrency` ≥ the batch size the trainer's one-batch
 * prefetch decodes the whole next batch while the current step computes.
 *
 * Order and captions are deterministic: batch `k` lies in epoch
 * `⌊k / perEpoch⌋`, whose order is a shuffle seeded by `(seed, epoch)`; the
 * caption of a sample is chosen from `(seed, epoch, index)`.
 *
 * Bad inputs met while decoding (missing file, undecodable image) go to the
 * source's {@link BadInputLog}. Under `skip` the sample's slot is filled by the
 * next usable sample of the epoch order (wrapping), so batches keep their
 * size; when reading in order (`shuffle: false`, evaluation) the substitute's
 * `label` is `-1` (and its `labels` row NaN) so metrics ignore the slot.
 *
 * @module
 */
import type { Batch, BatchOptions, DataSource, SplitInfo } from "../core/types.ts";
import type { BadInputLog, BadInputSummary } from "./bad_input.ts";
import { DecodeError, decodeInto, type DecodeOptions, mapLimit } from "./decode.ts";
import { PixelBatch } from "./pixel_batch.ts";
import type { DecodedCacheStats, DecodedImageCache } from "./decoded_cache.ts";
import { decodeCachedInto } from "./decoded_cache_use.ts";
import { sampleChoice } from "./shuffle.ts";
import { EpochOrders, requireSplit } from "./split_access.ts";

/** One sample of a file-backed source. */
export interface SampleRecord {
  /** Image file path (absolute, or relative to the working directory). */
  path: string;
  /** Caption choices (≥ 1, non-empty); one is picked per seed, epoch and sample. */
  captions: string[];
  /** Class index, `-1` when the source has no classes. */
  label: number;
  /** Multi-label targets `[F]` (1 positive, 0 negative, NaN ignored), when the source has them. */
  labels?: Float32Array;
}

/**
 * A batch with multi-label targets (proposed extension of `Batch`): `labels`
 * is `[B, F]` row-major, `F = labelNames.length` of the source; 1 = positive,
 * 0 = negative, NaN = unknown or ignored (e.g. CheXpert's uncertain −1 under
 * the `ignore` policy).
 */
export interface MultiLabelBatch extends Batch {
  /** `[B, F]` row-major targets in {0, 1, NaN}. */
  labels: Float32Array;
}

/** What every file-backed source offers beyond `DataSource`. */
export interface FileBackedSource extends DataSource {
  /** Names of the multi-label targets (e.g. the 14 CheXpert findings); `[]` when none. */
  readonly labelNames: string[];
  /** Bad inputs met so far (write it to the run directory at the end of a run). */
  badInputs(): BadInputSummary;
}

/** Options of {@link FileImageSource}. */
export interface FileSourceOptions {
  /** Source name. */
  name: string;
  /** Class names indexed by label (`[]` when there are no classes). */
  classNames: string[];
  /** Multi-label target names (default `[]`). */
  labelNames?: string[];
  /** Split name → samples. */
  splits: Record<string, SampleRecord[]>;
  /** Output size, channels and fit of every decoded image. */
  decode: DecodeOptions;
  /** Decodes in flight per batch (≥ 1). */
  concurrency: number;
  /** Where bad inputs are reported (its policy decides skip or fail). */
  log: BadInputLog;
  /** Reads a file's bytes (default: sharp reads the path itself, off the main thread). */
  read?: (path: string) => Promise<Uint8Array>;
  /** Decoded-image cache (`data.cache`): images decoded once, read back afterwards (not with `read`). */
  cache?: DecodedImageCache;
}

/**
 * Batches per epoch of `size` samples: `⌊N / B⌋` with `dropLast`, else `⌈N / B⌉`; never 0 (the
 * error names the source, split and sizes, and ends in `fix`, by default "add data").
 */
export function batchesPerEpochOf(
  size: number,
  options: BatchOptions & { name: string; split: string; fix?: string },
): number {
  if (!Number.isInteger(options.batchSize) || options.batchSize < 1) {
    throw new RangeError(`batchSize must be a positive integer, got ${options.batchSize}`);
  }
  const n = options.dropLast
    ? Math.floor(size / options.batchSize)
    : Math.ceil(size / options.batchSize);
  if (n === 0) {
    throw new RangeError(
      `${options.name} split "${options.split}" has ${size} samples, fewer than one batch of ` +
        `${options.batchSize}${options.dropLast ? " with dropLast" : ""}; ` +
        `lower the batch size or ${options.fix ?? "add data"}`,
    );
  }
  return n;
}

/** A random-access source over file-backed samples (see the module doc). */
export class FileImageSource implements FileBackedSource {
  /** Source name. */
  readonly name: string;
  /** Class names indexed by label. */
  readonly classNames: string[];
  /** Multi-label target names. */
  readonly labelNames: string[];
  /** `[H, W, C]` of decoded images. */
  readonly imageShape: [number, number, number];
  /** Split sizes. */
  readonly splits: Record<string, SplitInfo>;
  #data: Record<string, SampleRecord[]>;
  readonly #options: FileSourceOptions;
  readonly #bad = new Set<SampleRecord>();
  #orders = new EpochOrders();

  /**
   * Wraps sample lists; nothing is read until a batch is asked for.
   *
   * @param options See {@link FileSourceOptions}.
   */
  constructor(options: FileSourceOptions) {
    if (options.read && options.cache) {
      throw new Error(
        `${options.name}: a custom read function and the decoded-image cache do not combine ` +
          "(cache entries are keyed by each local file's size and modification time); drop one",
      );
    }
    this.name = options.name;
    this.classNames = options.classNames;
    this.labelNames = options.labelNames ?? [];
    const { height, width, channels } = options.decode;
    this.imageShape = [height, width, channels];
    this.#data = options.splits;
    this.#options = options;
    this.splits = Object.fromEntries(
      Object.entries(options.splits).map(([k, s]) => [k, { size: s.length }]),
    );
  }

  /** Batches per epoch: `⌊N / B⌋` with `dropLast`, else `⌈N / B⌉`. */
  batchesPerEpoch(split: string, options: BatchOptions): number {
    return batchesPerEpochOf(this.#split(split).length, { ...options, name: this.name, split });
  }

  /** The batch at flat position `batchIndex` (epochs continue past the end). */
  async batch(split: string, batchIndex: number, options: BatchOptions): Promise<MultiLabelBatch> {
    const records = this.#split(split);
    const perEpoch = this.batchesPerEpoch(split, options);
    if (!Number.isSafeInteger(batchIndex) || batchIndex < 0) {
      throw new RangeError(`batchIndex must be a non-negative integer, got ${batchIndex}`);
    }
    const epoch = Math.floor(batchIndex / perEpoch);
    const start = (batchIndex - epoch * perEpoch) * options.batchSize;
    const count = Math.min(start + options.batchSize, records.length) - start;
    const order = options.shuffle ? this.#order(split, options.seed, epoch) : undefined;
    const at = (p: number) => (order ? order[p % records.length]! : p % records.length);
    const [h, w, c] = this.imageShape;
    const pixels = new PixelBatch(count, [h, w, c]);
    const slots = await mapLimit(Array.from({ length: count }, (_, j) => start + j), {
      limit: this.#options.concurrency,
      fn: (pos, j) => this.#load(records, { pos, at, out: pixels, offset: j * h * w * c }),
    });
    return this.#assemble(records, { slots, pixels, options, epoch });
  }

  /** Bad inputs met so far. */
  badInputs(): BadInputSummary {
    return this.#options.log.summary();
  }

  /** Counters of the decoded-image cache, `undefined` without one. */
  cacheStats(): DecodedCacheStats | undefined {
    return this.#options.cache?.stats();
  }

  /** Drops the sample lists; the source is unusable afterwards. */
  dispose(): void {
    this.#data = {};
    this.#orders.clear();
  }

  /** Decodes the sample at epoch position `pos`, or its next usable successor. */
  async #load(
    records: SampleRecord[],
    slot: { pos: number; at: (p: number) => number; out: PixelBatch; offset: number },
  ): Promise<{ index: number; substituted: boolean }> {
    for (let t = 0; t < records.length; t++) {
      const index = slot.at(slot.pos + t);
      const record = records[index]!;
      if (this.#bad.has(record)) continue;
      try {
        await this.#decode(record.path, slot);
        return { index, substituted: t > 0 };
      } catch (e) {
        const missing = !(e instanceof DecodeError);
        this.#reject(record, missing ? "missing_file" : "decode_error", (e as Error).message);
      }
    }
    throw new Error(
      `${this.name}: every one of the ${records.length} samples of the split is unusable ` +
        `(see the skipped-input summary); check the paths and files`,
    );
  }

  /** Decodes one image into its slot, through the cache when there is one. */
  async #decode(path: string, slot: { out: PixelBatch; offset: number }): Promise<void> {
    const { cache, read, decode } = this.#options;
    const target = { ...decode, ...slot, path };
    if (cache) return decodeCachedInto(cache, { source: { path }, input: path, target });
    return decodeInto(read ? await read(path) : path, target);
  }

  #reject(record: SampleRecord, reason: "missing_file" | "decode_error", detail: string): void {
    this.#options.log.report({ path: record.path, reason, detail });
    this.#bad.add(record);
  }

  #assemble(
    records: SampleRecord[],
    at: {
      slots: { index: number; substituted: boolean }[];
      pixels: PixelBatch;
      options: BatchOptions;
      epoch: number;
    },
  ): MultiLabelBatch {
    const { slots, options, epoch } = at;
    const count = slots.length;
    const f = this.labelNames.length;
    const label = new Int32Array(count);
    const index = new Int32Array(count);
    const labels = new Float32Array(count * f);
    const caption = slots.map((slot, j) => {
      const record = records[slot.index]!;
      const dropLabel = slot.substituted && !options.shuffle;
      label[j] = dropLabel ? -1 : record.label;
      index[j] = slot.index;
      if (f > 0) labels.set(dropLabel ? new Float32Array(f).fill(NaN) : record.labels!, j * f);
      const pick = sampleChoice(record.captions.length, {
        seed: options.seed,
        epoch,
        index: slot.index,
        purpose: "caption",
      });
      return record.captions[pick]!;
    });
    return {
      image: at.pixels.toTensor({ host: options.hostPixels }),
      caption,
      label,
      index,
      labels,
    };
  }

  #split(split: string): SampleRecord[] {
    return requireSplit(this.name, this.#data, split);
  }

  #order(split: string, seed: number, epoch: number): Int32Array {
    return this.#orders.get(split, this.#data[split]!.length, { seed, epoch });
  }
}
