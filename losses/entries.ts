/**
 * Registry entries of the loss room: `clip` (`entry_clip.ts`), `sigreg`, `prediction`, plus the
 * method terms of `entries_methods.ts` (`siglip`, `invariance`, `nclip`,
 * `ito_fusion`) and `entries_structures.ts` (`contrastive4`,
 * `feature_separation`, `brownian_bridge`, `geometric_consistency`).
 *
 * A recipe loss is `{ kind, name?, inputs: { role: ref | [ref, ...] }, weight,
 * ...params }`; each entry's schema validates only `...params`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { LossFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { positiveInt } from "../core/schema.ts";
import type { NodeValue } from "../core/types.ts";
import { clipSchema, createClip } from "./entry_clip.ts";
import { describeValue, type LossInputs, tensorInput } from "./entry_inputs.ts";
import { QUADRATURES } from "./epps_pulley.ts";
import { predictionLoss } from "./prediction.ts";
import { sigreg } from "./sigreg.ts";
import { methodLossEntries } from "./entries_methods.ts";
import { structureLossEntries } from "./entries_structures.ts";
import type { Tensor3D } from "../core/tensor.ts";

const sigregSchema = z.strictObject({
  slices: positiveInt().default(1024).describe(
    "Random 1-D directions M per step (drawn from the seed and the step number).",
  ),
  quadrature: z.enum(QUADRATURES as [string, ...string[]]).default("code").describe(
    "Epps–Pulley integral: `code` (LeJEPA's code: t in [0, 3], 17 nodes) or `paper` " +
      "(Algorithm 1: trapezoid on [−5, 5]).",
  ),
  pooled: z.boolean().default(false).describe(
    "Test all views' rows as one sample (false: each view over its own batch, then averaged).",
  ),
});

/** Stacks the `x` list into `[V, B, K]` (`[B, K]` counts as one view). */
function stackViews(inputs: LossInputs): Tensor3D {
  const raw = inputs["x"];
  const list = (Array.isArray(raw) && typeof raw[0] !== "string" ? raw : [raw]) as NodeValue[];
  const views = list.map((value, i) => {
    const t = value instanceof tf.Tensor ? value : undefined;
    if (!t || (t.rank !== 2 && t.rank !== 3)) {
      throw new Error(
        `loss sigreg: x[${i}] must be [B, K] or [V, B, K], got ${describeValue(value)}`,
      );
    }
    return (t.rank === 2 ? tf.expandDims(t, 0) : t) as Tensor3D;
  });
  const [b, k] = views[0]!.shape.slice(1);
  views.forEach((v, i) => {
    if (v.shape[1] !== b || v.shape[2] !== k) {
      throw new Error(
        `loss sigreg: x[${i}] has batch × dim ${v.shape[1]} × ${v.shape[2]}, but x[0] has ` +
          `${b} × ${k}; every listed value needs the same [B, K]`,
      );
    }
  });
  return views.length === 1 ? views[0]! : tf.concat(views, 0);
}

const createSigreg: LossFactory = (params: z.infer<typeof sigregSchema>) => ({
  roles: ["x[]"],
  fn: (inputs, ctx) =>
    tf.tidy(() => {
      const stacked = stackViews(inputs);
      const x = params.pooled ? tf.reshape(stacked, [-1, stacked.shape[2]]) : stacked;
      return sigreg(x, {
        slices: params.slices,
        quadrature: params.quadrature as "code" | "paper",
        seed: ctx.seed,
      });
    }),
});

const createPrediction: LossFactory = () => ({
  roles: ["pred", "target"],
  fn: (inputs) =>
    predictionLoss(
      tensorInput("prediction", inputs, "pred"),
      tensorInput("prediction", inputs, "target"),
    ),
});

/** Loss entries provided by `losses/`. */
export const lossEntries: RegistryEntry<LossFactory>[] = [
  {
    kind: "clip",
    summary: "CLIP symmetric InfoNCE (arXiv 2103.00020): image [B, D] or [V, B, D] vs text " +
      "[B, D]; with distill, ALBEF's momentum distillation (arXiv 2107.07651)",
    schema: clipSchema,
    create: createClip,
  },
  {
    kind: "sigreg",
    summary:
      "SIGReg Epps–Pulley Gaussianity test (arXiv 2511.08544) over a list of [B, K] / [V, B, K]",
    schema: sigregSchema,
    create: createSigreg,
  },
  {
    kind: "prediction",
    summary: "MSE of pred [V, B, K] or [B, K] against target [B, K] (NOVA, arXiv 2602.00653)",
    schema: z.strictObject({}),
    create: createPrediction,
  },
  ...methodLossEntries,
  ...structureLossEntries,
];
