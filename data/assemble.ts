/**
 * From sample records to a {@link FileImageSource}: the split rules and
 * decode settings every file-backed kind shares.
 *
 * Splits: records tagged by the source (a manifest's split column, MIMIC's
 * official split CSV) keep their split, with aliases normalised (`validate`,
 * `valid`, `validation`, `dev` → `val`; `training` → `train`; `testing` →
 * `test`); untagged records form `train`. Then `val` / `test` fractions carve
 * seeded parts out of `train`'s images (an error when that split already
 * exists; the rows naming one image stay together), a manifest's
 * `merge_captions` makes each training image one sample, `held_out_classes`
 * applies the zero-shot layout of `data/splits.ts`, and `limit` keeps the
 * first `n` samples of a split. Empty splits are dropped.
 *
 * @module
 */
import type { BadInputLog, BadInputPolicy } from "./bad_input.ts";
import { join } from "node:path";
import type { FitMode } from "./decode.ts";
import { DecodedImageCache } from "./decoded_cache.ts";
import { FileImageSource, type SampleRecord } from "./file_source.ts";
import { classIndices, fractionSplit, heldOutLayout } from "./splits.ts";
import { imagesInSeveralSplits, mergeCaptions, rowsByImage } from "./image_rows.ts";

/** Settings shared by the file-backed kinds (validated by their registry entries). */
export interface FileSourceParams {
  /** Output side (square), or `[height, width]`. */
  size: number | [number, number];
  /** 1 (luminance) or 3 (RGB; greyscale replicated). */
  channels: 1 | 3;
  /** Resize policy. */
  fit: FitMode;
  /** Decodes in flight per batch. */
  concurrency: number;
  /** What to do with unusable inputs. */
  bad_input: BadInputPolicy;
  /** Fraction of train held out as `val` (seeded). */
  val: number;
  /** Fraction of train held out as `test` (seeded). */
  test: number;
  /** Class names never trained on. */
  held_out_classes?: string[];
  /** Split → keep only its first `n` samples. */
  limit?: Record<string, number>;
  /** Decoded-image cache: `true` (under the run's cache directory), a directory, or off. */
  cache?: boolean | string;
}

/** A record with the split its source assigned (if any). */
export interface TaggedRecord extends SampleRecord {
  /** Split name as the source wrote it (`undefined` → `train`). */
  split?: string;
}

const ALIASES: Record<string, string> = {
  validate: "val",
  valid: "val",
  validation: "val",
  dev: "val",
  training: "train",
  testing: "test",
};

/** The canonical split name (`validate` → `val`, …). */
export function canonicalSplit(name: string): string {
  const key = name.trim().toLowerCase();
  return ALIASES[key] ?? key;
}

function groupSplits(records: TaggedRecord[]): Record<string, SampleRecord[]> {
  const out: Record<string, SampleRecord[]> = {};
  for (const { split, ...record } of records) {
    const name = canonicalSplit(split ?? "train");
    (out[name] ??= []).push(record);
  }
  return out;
}

function carveFractions(
  splits: Record<string, SampleRecord[]>,
  options: { val: number; test: number; seed: number },
): void {
  if (options.val === 0 && options.test === 0) return;
  for (const part of ["val", "test"] as const) {
    if (options[part] > 0 && splits[part]?.length) {
      throw new Error(
        `${part}: ${options[part]} asks for a seeded ${part} split but the source already has ` +
          `"${part}" (${splits[part]!.length} samples); drop the ${part} fraction`,
      );
    }
  }
  // Fractions of images: an image's rows (a row per caption) go to one split together.
  const train = splits.train ?? [];
  const images = rowsByImage(train);
  const parts = fractionSplit(images.length, options);
  const rows = (picked: Int32Array) =>
    [...picked].flatMap((g) => images[g]!).sort((a, b) => a - b).map((i) => train[i]!);
  splits.train = rows(parts.train);
  if (parts.val.length) splits.val = rows(parts.val);
  if (parts.test.length) splits.test = rows(parts.test);
}

/** Warns when the source's own splits share an image: trained on and evaluated on. */
function warnOfSharedImages(splits: Record<string, SampleRecord[]>, source: string): void {
  const shared = imagesInSeveralSplits(splits);
  if (shared.size === 0) return;
  const [path, where] = shared.entries().next().value!;
  console.warn(
    `${source}: ${shared.size} image${shared.size === 1 ? "" : "s"} in more than one split ` +
      `(e.g. ${path}: ${where.join(", ")}); what is trained on is also evaluated on — check ` +
      `the split column`,
  );
}

/** Groups, carves, applies held-out classes and limits; drops empty splits. */
function buildSplits(
  records: TaggedRecord[],
  at: {
    params: FileSourceParams;
    classNames: string[];
    seed: number;
    log: BadInputLog;
    mergeCaptions?: boolean;
  },
): Record<string, SampleRecord[]> {
  const { params } = at;
  let splits = groupSplits(records);
  warnOfSharedImages(splits, at.log.source);
  carveFractions(splits, { val: params.val, test: params.test, seed: at.seed });
  if (at.mergeCaptions && splits.train) splits.train = mergeCaptions(splits.train, at.log);
  if (params.held_out_classes?.length) {
    const held = classIndices(params.held_out_classes, at.classNames);
    splits = heldOutLayout(splits, { held, label: (r) => r.label });
  }
  for (const [name, n] of Object.entries(params.limit ?? {})) {
    if (!splits[name]) {
      throw new Error(
        `limit.${name}: the source has no split "${name}"; its splits: ` +
          `${Object.keys(splits).filter((k) => splits[k]!.length > 0).join(", ")}`,
      );
    }
    splits[name] = splits[name]!.slice(0, n);
  }
  for (const name of Object.keys(splits)) if (splits[name]!.length === 0) delete splits[name];
  return splits;
}

/**
 * The decoded-image cache directory of a `cache` setting: `true` → `<cacheDir>/decoded`
 * (`.cache/novalab/decoded` when the run names none), a string → itself, `false` → none.
 */
export function decodedCacheDir(
  cache: boolean | string | undefined,
  cacheDir: string | undefined,
): string | undefined {
  if (typeof cache === "string") return cache;
  return cache ? join(cacheDir || ".cache/novalab", "decoded") : undefined;
}

/**
 * Builds the source (see the module doc for the split rules).
 *
 * @param records Every usable sample, tagged with its split when the source has splits.
 * @param options Name, class and label names, the shared `params`, the recipe `seed` and the `log`.
 */
export async function assembleSource(
  records: TaggedRecord[],
  options: {
    name: string;
    classNames: string[];
    labelNames?: string[];
    params: FileSourceParams;
    seed: number;
    log: BadInputLog;
    /** Whether an empty `train` split is an error (default true; false for evaluation-only sources). */
    requireTrain?: boolean;
    /** The run's cache directory (`cache: true` stores decoded images under `<cacheDir>/decoded`). */
    cacheDir?: string;
    /** Merge the training rows naming one image into one sample (`data/image_rows.ts`). */
    mergeCaptions?: boolean;
  },
): Promise<FileImageSource> {
  const { params } = options;
  const splits = buildSplits(records, {
    params,
    classNames: options.classNames,
    seed: options.seed,
    log: options.log,
    mergeCaptions: options.mergeCaptions,
  });
  if (!splits.train && options.requireTrain !== false) {
    const total = options.log.total;
    throw new Error(
      `${options.name}: no usable training samples (${records.length} usable in all splits, ` +
        `${total} bad inputs skipped); check the paths, filters and split column`,
    );
  }
  const [height, width] = typeof params.size === "number"
    ? [params.size, params.size]
    : params.size;
  const decode = { height, width, channels: params.channels, fit: params.fit };
  const cacheDir = decodedCacheDir(params.cache, options.cacheDir);
  return new FileImageSource({
    name: options.name,
    classNames: options.classNames,
    labelNames: options.labelNames ?? [],
    splits,
    decode,
    concurrency: params.concurrency,
    log: options.log,
    cache: cacheDir === undefined ? undefined : await DecodedImageCache.open(cacheDir, decode),
  });
}
