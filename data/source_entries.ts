/**
 * Registry entries of the file-backed data sources: `manifest`,
 * `image_folder`, `webdataset`, `mimic_cxr`, `chexpert` and `chestxray14`. They share the
 * decode / split / bad-input settings below (documented in `docs/data.md`).
 *
 * @module
 */
import { z } from "zod";
import type { SourceFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { num, positiveInt } from "../core/schema.ts";
import { BAD_INPUT_POLICIES } from "./bad_input.ts";
import { PLACEHOLDER } from "./captions.ts";
import { CHEXPERT_FINDINGS, type ChexpertParams, createChexpertSource } from "./chexpert.ts";
import {
  CHESTXRAY14_FINDINGS,
  type ChestXray14Params,
  createChestXray14Source,
} from "./chestxray14.ts";
import { createImageFolderSource, type ImageFolderParams } from "./image_folder.ts";
import { createManifestSource, type ManifestParams } from "./manifest.ts";
import { createMimicSource, type MimicParams } from "./mimic.ts";
import { parseFilter } from "./filters.ts";
import { createWebDatasetSource, type WebDatasetParams } from "./webdataset.ts";

const fraction = (what: string) =>
  num().pipe(z.number().min(0, "expected >= 0").lt(1, "expected < 1")).default(0).describe(what);

const channels = positiveInt().refine((c) => c === 1 || c === 3, {
  message: "expected 1 (luminance) or 3 (RGB; greyscale is replicated)",
}) as unknown as z.ZodType<1 | 3>;

/** Decode and bad-input settings of every file-backed source. */
const decodeFields = {
  size: z.union([positiveInt(), z.tuple([positiveInt(), positiveInt()])]).default(224).describe(
    "Output side (square), or `[height, width]`.",
  ),
  channels: channels.default(3).describe(
    "1 (luminance) or 3 (RGB; greyscale is replicated).",
  ),
  fit: z.enum(["cover", "contain", "fill"]).default("cover").describe(
    "Resize policy: `cover` resizes the shorter side and centre-crops, `contain` letterboxes on " +
      "black, `fill` stretches.",
  ),
  concurrency: positiveInt().default(256).describe("Decodes in flight per batch."),
  bad_input: z.enum(BAD_INPUT_POLICIES as [string, ...string[]]).default("fail").describe(
    "Unusable inputs (unreadable, undecodable, empty caption): `fail` stops with the first one; " +
      "`skip` leaves them out and lists them in `data_issues.json`.",
  ),
  name: z.string().min(1).optional().describe("Source name (default: from the kind or the path)."),
  cache: z.union([z.boolean(), z.string().min(1)]).default(false).describe(
    "Decoded-image cache: `true` stores each image's pixels at `size` under the run's cache " +
      "directory (`.cache/novalab/decoded`), a path stores them there; later epochs and runs " +
      "read them back instead of decoding again. Entries are keyed by file, size, modification " +
      "time, decode settings and decoder version.",
  ),
};

/** Split settings of the random-access sources. */
const splitFields = {
  val: fraction("Fraction of train held out as split `val` (seeded)."),
  test: fraction("Fraction of train held out as split `test` (seeded)."),
  held_out_classes: z.array(z.string().min(1)).min(1).optional().describe(
    "Class names never trained on; every other split `s` gains `s_seen` and `s_unseen`.",
  ),
  limit: z.record(z.string(), positiveInt()).optional().describe(
    "Split → keep only its first n samples, e.g. `{ train: 1000 }`.",
  ),
};

const filters = z.array(
  z.string().superRefine((text, ctx) => {
    try {
      parseFilter(text);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
    }
  }),
).default([]).describe("Row filters, e.g. `ViewPosition in [PA, AP]` (see docs/data.md).");

const template = z.string().refine((s) => s.includes(PLACEHOLDER), {
  message: `expected a caption template containing "${PLACEHOLDER}", e.g. "a photo of a {}."`,
});

const labelPolicy = {
  uncertain: z.enum(["negative", "positive", "ignore"]).default("negative").describe(
    "What an uncertain (−1) label becomes: 0, 1, or ignored (NaN).",
  ),
  blank: z.enum(["negative", "ignore"]).default("negative").describe(
    "What a blank (not mentioned) label becomes: 0, or ignored (NaN).",
  ),
  findings: z.array(z.string().min(1)).min(1).default([...CHEXPERT_FINDINGS]).describe(
    "Finding columns of the label CSV used as targets.",
  ),
};

const manifestSchema = z.strictObject({
  path: z.string().min(1).describe("The manifest file."),
  format: z.enum(["csv", "tsv", "jsonl"]).optional().describe(
    "Table format (default: from the extension).",
  ),
  image: z.string().min(1).default("image_path").describe("Image path column."),
  text: z.string().min(1).default("caption").describe("Caption (text) column."),
  label: z.string().min(1).optional().describe(
    "Class label column (class name, or integer index into `classes`).",
  ),
  classes: z.array(z.string().min(1)).min(2).optional().describe(
    "Class names indexed by label (default: the label column's distinct values, sorted).",
  ),
  split: z.string().min(1).optional().describe(
    "Split column (values such as `train`, `validate`, `test`).",
  ),
  filter: filters,
  root: z.string().min(1).optional().describe(
    "Directory relative image paths are resolved against (default: the manifest's).",
  ),
  merge_captions: z.boolean().optional().describe(
    "Training rows naming one image file (a row per caption, as COCO's) are one sample whose " +
      "caption is drawn from theirs each epoch; evaluation splits keep a row per caption.",
  ),
  ...decodeFields,
  ...splitFields,
});

const imageFolderSchema = z.strictObject({
  root: z.string().min(1).describe(
    "The root folder: one folder per class, optionally under `train/`, `val/`, `test/`.",
  ),
  captions: z.array(template).min(1).default(["a photo of a {}."]).describe(
    "Caption templates; `{}` is replaced by the class name.",
  ),
  classes: z.array(z.string().min(1)).min(2).optional().describe(
    "Class folder names in label order (default: every class folder, sorted).",
  ),
  rename: z.record(z.string(), z.string().min(1)).optional().describe(
    "Folder name → class name used in captions and prompts (e.g. WordNet ids → words).",
  ),
  extensions: z.array(z.string().regex(/^\.[a-z0-9]+$/, 'expected e.g. ".jpg"')).min(1)
    .default([".jpg", ".jpeg", ".png", ".webp"]).describe(
      "Image file extensions (lower case, with the dot).",
    ),
  ...decodeFields,
  ...splitFields,
});

const patterns = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const webdatasetSchema = z.strictObject({
  shards: z.union([patterns, z.record(z.string(), patterns)]).describe(
    "Shard pattern(s) with brace expansion (`shard-{000..009}.tar`; split `train`), or " +
      "split → pattern(s).",
  ),
  image_ext: z.array(z.string().min(1)).min(1).default(["jpg", "jpeg", "png", "webp"])
    .describe("Image member extensions, tried in order."),
  text_ext: z.string().min(1).default("txt").describe("Caption member extension."),
  json_key: z.string().min(1).default("caption").describe(
    "Caption field of the `.json` member, used when the text member is absent.",
  ),
  classes: z.array(z.string().min(1)).min(2).optional().describe(
    "Class names; labels come from `.cls` or the json `label` when given.",
  ),
  shuffle_buffer: positiveInt().default(1000).describe(
    "Samples in the shuffle buffer (training order; evaluation reads in order).",
  ),
  ...decodeFields,
});

const mimicSchema = z.strictObject({
  root: z.string().min(1).describe("MIMIC-CXR-JPG root (holds `files/` and the CSVs)."),
  reports: z.string().min(1).optional().describe(
    "Root of the report `.txt` tree (default: `root`).",
  ),
  metadata: z.string().min(1).optional().describe(
    "Metadata CSV (default: `mimic-cxr-2.0.0-metadata.csv[.gz]` under root).",
  ),
  split_csv: z.string().min(1).optional().describe(
    "Official split CSV (default: `mimic-cxr-2.0.0-split.csv[.gz]` under root).",
  ),
  labels: z.string().min(1).optional().describe(
    "CheXpert label CSV (default: `mimic-cxr-2.0.0-chexpert.csv[.gz]` under root when present).",
  ),
  views: z.array(z.string().min(1)).default(["PA", "AP"]).describe(
    "Kept `ViewPosition` values (`[]` keeps all).",
  ),
  filter: filters,
  section: z.enum(["impression", "findings", "findings_impression", "full"]).default("impression")
    .describe("Report section used as the caption."),
  fallback: z.array(z.enum(["findings", "impression", "last_paragraph"]))
    .default(["findings", "last_paragraph"]).describe(
      "Sections tried in order when the wanted one is missing or empty.",
    ),
  ...labelPolicy,
  ...decodeFields,
  ...splitFields,
});

const chexpertSchema = z.strictObject({
  csv: z.union([z.string().min(1), z.record(z.string(), z.string().min(1))]).describe(
    "Label CSV(s): one path (split `test`) or split → path.",
  ),
  root: z.string().min(1).optional().describe(
    "Directory the image paths are relative to (default: from the CSV's location).",
  ),
  image: z.string().min(1).default("Path").describe("Image path column."),
  filter: filters,
  ...labelPolicy,
  ...decodeFields,
  ...splitFields,
});

const chestxray14Schema = z.strictObject({
  root: z.string().min(1).describe("Dataset root (optional `test_list.txt` marks the test part)."),
  csv: z.string().min(1).optional().describe("Label CSV (default `<root>/Data_Entry_2017.csv`)."),
  images: z.string().min(1).optional().describe("Image folder (default `<root>/images`)."),
  findings: z.array(z.enum(CHESTXRAY14_FINDINGS as [string, ...string[]])).min(1)
    .default([...CHESTXRAY14_FINDINGS]).describe("Findings used as targets."),
  filter: filters,
  ...decodeFields,
  ...splitFields,
});

/** Data-source entries of the file-backed kinds. */
export const fileSourceEntries: RegistryEntry<SourceFactory>[] = [
  {
    kind: "manifest",
    summary: "CSV/TSV/JSONL manifest: image path + text column (+ label, split, row filters)",
    schema: manifestSchema,
    create: (p: z.infer<typeof manifestSchema>, ctx) =>
      createManifestSource(p as ManifestParams, ctx),
  },
  {
    kind: "image_folder",
    summary: "class-per-folder images (optionally under train/val/test) with caption templates",
    schema: imageFolderSchema,
    create: (p: z.infer<typeof imageFolderSchema>, ctx) =>
      createImageFolderSource(p as ImageFolderParams, ctx),
  },
  {
    kind: "webdataset",
    summary: "WebDataset tar shards ({key}.jpg + .txt/.json), streamed with a shuffle buffer",
    schema: webdatasetSchema,
    create: (p: z.infer<typeof webdatasetSchema>, ctx) =>
      createWebDatasetSource(p as WebDatasetParams, ctx),
  },
  {
    kind: "mimic_cxr",
    summary: "MIMIC-CXR-JPG layout: metadata + split CSVs, report sections as captions, " +
      "view filter, CheXpert labels",
    schema: mimicSchema,
    create: (p: z.infer<typeof mimicSchema>, ctx) => createMimicSource(p as MimicParams, ctx),
  },
  {
    kind: "chexpert",
    summary: "CheXpert-style label CSV (14 findings, uncertain policy) with image paths",
    schema: chexpertSchema,
    create: (p: z.infer<typeof chexpertSchema>, ctx) =>
      createChexpertSource(p as ChexpertParams, ctx),
  },
  {
    kind: "chestxray14",
    summary: "NIH ChestX-ray14 layout: Data_Entry_2017.csv (14 findings), images/, test_list.txt",
    schema: chestxray14Schema,
    create: (p: z.infer<typeof chestxray14Schema>, ctx) =>
      createChestXray14Source(p as ChestXray14Params, ctx),
  },
];
