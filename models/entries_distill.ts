/**
 * Registry entries of the self-distillation nodes: `center` (DINO's centring
 * of a teacher's scores), `take_views` (a range of a multi-view value's
 * views, e.g. the global crops), `queue` (MoCo's and ALBEF's queue of
 * earlier batches' features) and `group_queue` (ALBEF's queue of their group
 * ids). Registered by `core/builtins.ts`.
 *
 * @module
 */
import { z } from "zod";
import type { ModuleFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { num, positiveInt } from "../core/schema.ts";
import { Center } from "./center.ts";
import { TakeViews } from "./take_views.ts";
import { FeatureQueue } from "./feature_queue.ts";
import { GroupQueue } from "./group_queue.ts";

const centerSchema = z.strictObject({
  momentum: num().pipe(
    z.number().min(0, "expected a number in [0, 1)").lt(1, "expected a number in [0, 1)"),
  ).default(0.9).describe(
    "Momentum m of the centre: after every applied update `c ← m·c + (1 − m)·mean(x)` over the " +
      "batch's rows (DINO: 0.9).",
  ),
});

const createCenter: ModuleFactory = (p: z.infer<typeof centerSchema>, ctx) => {
  const dim = ctx.inputShapes[0]?.at(-1);
  if (dim === undefined || dim < 1) {
    throw new Error(
      `node "${ctx.name}" (center) expects scores [..., K], got [${ctx.inputShapes[0] ?? ""}]`,
    );
  }
  return new Center({ dim, momentum: p.momentum }, ctx.name);
};

const takeViewsSchema = z.strictObject({
  start: num().pipe(z.number().int("expected an integer").min(0, "expected >= 0")).default(0)
    .describe("The first view taken (0-based)."),
  count: positiveInt().describe(
    "How many views (cut to the views there are: one at inference, where views give one).",
  ),
});

const queueSchema = z.strictObject({
  size: positiveInt().describe(
    "Rows K kept: the last K rows the input gave, oldest overwritten first (ALBEF and MoCo: " +
      "65,536). Rows wrap around the end; a multiple of the rows a step gives keeps every step's rows together.",
  ),
});

const createQueue: ModuleFactory = (p: z.infer<typeof queueSchema>, ctx) => {
  const dim = ctx.inputShapes[0]?.at(-1);
  if (dim === undefined || dim < 1) {
    throw new Error(
      `node "${ctx.name}" (queue) expects features [..., D], got [${ctx.inputShapes[0] ?? ""}]`,
    );
  }
  return new FeatureQueue({ size: p.size, dim, seed: ctx.seed }, ctx.name);
};

const groupQueueSchema = z.strictObject({
  size: positiveInt().describe(
    "Ids K kept: give it the size of the feature queues it stands beside (their rows and its " +
      "ids share slots). Ids are kept as float32: labels must be below 2²⁴ (class indices are).",
  ),
});

/** The entries of `center`, `take_views`, `queue` and `group_queue`. */
export const distillationModuleEntries: RegistryEntry<ModuleFactory>[] = [
  {
    kind: "center",
    summary: "DINO's centring: [..., K] minus the running mean of training batches (a buffer)",
    arity: [1, 1],
    input: "one reference: scores `[..., K]` (a momentum teacher's prototypes).",
    schema: centerSchema,
    create: createCenter,
  },
  {
    kind: "take_views",
    summary: "views start … start + count − 1 of [V, B, ...] (e.g. the global crops)",
    arity: [1, 1],
    input: "one reference: views `[V, B, ...]` (a `views` node's, or a `vit`'s over them).",
    schema: takeViewsSchema,
    create: (p: z.infer<typeof takeViewsSchema>, ctx) => new TakeViews(p, ctx.name),
  },
  {
    kind: "queue",
    summary: "MoCo's and ALBEF's queue: [K, D] of earlier steps' rows (a buffer), written after " +
      "every applied update",
    arity: [1, 1],
    input: "one reference: features `[..., D]` (a momentum teacher's).",
    schema: queueSchema,
    create: createQueue,
  },
  {
    kind: "group_queue",
    summary: "ALBEF's id queue: [B + K] int32 group ids, this batch's then earlier steps' (a " +
      "buffer), so `clip`'s `groups` combine with its queues",
    arity: [1, 1],
    input: "one reference: the batch's groups, `batch.label` (int32 `[B]`) or `batch.caption` " +
      "(equal captions, one group).",
    schema: groupQueueSchema,
    create: (p: z.infer<typeof groupQueueSchema>, ctx) => new GroupQueue(p.size, ctx.name),
  },
];
