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

const fraction = () =>
  num().pipe(z.number().min(0, "expected >= 0").lt(1, "expected < 1")).default(0);

const channels = positiveInt().refine((c) => c === 1 || c === 3, {
  message: "expected 1 (luminance) or 3 (RGB; greyscale is replicated)",
}) as unknown as z.ZodType<1 | 3>;

/** Decode and bad-input settings of every file-backed source. */
const decodeFields = {
  size: z.union([positiveInt(), z.tuple([positiveInt(), positiveInt()])]).default(224),
  channels: channels.default(3),
  fit: z.enum(["cover", "contain", "fill"]).default("cover"),
  concurrency: positiveInt().default(256),
  bad_input: z.enum(BAD_INPUT_POLICIES as [string, ...string[]]).default("fail"),
  name: z.string().min(1).optional(),
};

/** Split settings of the random-access sources. */
const splitFields = {
  val: fraction(),
  test: fraction(),
  held_out_classes: z.array(z.string().min(1)).min(1).optional(),
  limit: z.record(z.string(), positiveInt()).optional(),
};

const filters = z.array(
  z.string().superRefine((text, ctx) => {
    try {
      parseFilter(text);
    } catch (e) {
      ctx.addIssue({ code: "custom", message: (e as Error).message });
    }
  }),
).default([]);

const template = z.string().refine((s) => s.includes(PLACEHOLDER), {
  message: `expected a caption template containing "${PLACEHOLDER}", e.g. "a photo of a {}."`,
});

const labelPolicy = {
  uncertain: z.enum(["negative", "positive", "ignore"]).default("negative"),
  blank: z.enum(["negative", "ignore"]).default("negative"),
  findings: z.array(z.string().min(1)).min(1).default([...CHEXPERT_FINDINGS]),
};

const manifestSchema = z.strictObject({
  path: z.string().min(1),
  format: z.enum(["csv", "tsv", "jsonl"]).optional(),
  image: z.string().min(1).default("image_path"),
  text: z.string().min(1).default("caption"),
  label: z.string().min(1).optional(),
  classes: z.array(z.string().min(1)).min(2).optional(),
  split: z.string().min(1).optional(),
  filter: filters,
  root: z.string().min(1).optional(),
  ...decodeFields,
  ...splitFields,
});

const imageFolderSchema = z.strictObject({
  root: z.string().min(1),
  captions: z.array(template).min(1).default(["a photo of a {}."]),
  classes: z.array(z.string().min(1)).min(2).optional(),
  rename: z.record(z.string(), z.string().min(1)).optional(),
  extensions: z.array(z.string().regex(/^\.[a-z0-9]+$/, 'expected e.g. ".jpg"')).min(1)
    .default([".jpg", ".jpeg", ".png", ".webp"]),
  ...decodeFields,
  ...splitFields,
});

const patterns = z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]);

const webdatasetSchema = z.strictObject({
  shards: z.union([patterns, z.record(z.string(), patterns)]),
  image_ext: z.array(z.string().min(1)).min(1).default(["jpg", "jpeg", "png", "webp"]),
  text_ext: z.string().min(1).default("txt"),
  json_key: z.string().min(1).default("caption"),
  classes: z.array(z.string().min(1)).min(2).optional(),
  shuffle_buffer: positiveInt().default(1000),
  ...decodeFields,
});

const mimicSchema = z.strictObject({
  root: z.string().min(1),
  reports: z.string().min(1).optional(),
  metadata: z.string().min(1).optional(),
  split_csv: z.string().min(1).optional(),
  labels: z.string().min(1).optional(),
  views: z.array(z.string().min(1)).default(["PA", "AP"]),
  filter: filters,
  section: z.enum(["impression", "findings", "findings_impression", "full"]).default("impression"),
  fallback: z.array(z.enum(["findings", "impression", "last_paragraph"]))
    .default(["findings", "last_paragraph"]),
  ...labelPolicy,
  ...decodeFields,
  ...splitFields,
});

const chexpertSchema = z.strictObject({
  csv: z.union([z.string().min(1), z.record(z.string(), z.string().min(1))]),
  root: z.string().min(1).optional(),
  image: z.string().min(1).default("Path"),
  filter: filters,
  ...labelPolicy,
  ...decodeFields,
  ...splitFields,
});

const chestxray14Schema = z.strictObject({
  root: z.string().min(1),
  csv: z.string().min(1).optional(),
  images: z.string().min(1).optional(),
  findings: z.array(z.enum(CHESTXRAY14_FINDINGS as [string, ...string[]])).min(1)
    .default([...CHESTXRAY14_FINDINGS]),
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
    create: (p: z.infer<typeof webdatasetSchema>) => createWebDatasetSource(p as WebDatasetParams),
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
