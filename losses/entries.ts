/**
 * Registry entries of the loss room: `clip`, `sigreg`, `prediction`, plus the
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
import { addAll } from "../core/ops.ts";
import { z } from "zod";
import type { LossFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { num, positiveInt, probability } from "../core/schema.ts";
import type { NodeValue } from "../core/types.ts";
import { clipLoss } from "./clip.ts";
import { softTargetLoss } from "./clip_distill.ts";
import { viewAt } from "./common.ts";
import { QUADRATURES } from "./epps_pulley.ts";
import { predictionLoss } from "./prediction.ts";
import { sigreg } from "./sigreg.ts";
import { l2Normalize } from "../kernels/l2_normalize.ts";
import { methodLossEntries } from "./entries_methods.ts";
import { structureLossEntries } from "./entries_structures.ts";
import type { Scalar, Tensor, Tensor2D, Tensor3D } from "../core/tensor.ts";

type Inputs = Record<string, NodeValue | NodeValue[]>;

const describe = (v: unknown): string =>
  Array.isArray(v)
    ? `a list of ${v.length} values`
    : typeof v === "object" && v !== null
    ? `shape [${(v as Tensor).shape?.join(", ")}]`
    : String(v);

/** The tensor bound to `role`, or an error naming the loss, the role and what arrived. */
function tensorInput(kind: string, inputs: Inputs, role: string): Tensor {
  const value = inputs[role];
  if (!(value instanceof tf.Tensor)) {
    throw new Error(
      `loss ${kind}: input "${role}" must be a tensor, got ${
        value === undefined ? "nothing" : describe(value)
      }; bind it to a node that outputs embeddings`,
    );
  }
  return value;
}

const clipSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise image and text before the logits."),
  scale: num().default(1 / 0.07).describe(
    "Fixed logit scale s, used when no `logit_scale` input is bound (that one gives exp θ).",
  ),
  bias: num().optional().describe("Logit bias b added to every logit (absent: none)."),
  distill: probability().optional().describe(
    "Momentum distillation weight α (ALBEF: 0.4; absent: 0): targets `(1 − α)·one-hot + " +
      "α·softmax` of the teachers' similarities, from the `image_teacher` and `text_teacher` " +
      "inputs (ema nodes).",
  ),
});

/** The teachers' embeddings `clip` distils from, or none (`distill: 0`); errors name the roles. */
function clipTeachers(
  inputs: Inputs,
  distill: number,
  normalize: boolean,
): { image: Tensor; text: Tensor2D } | undefined {
  const bound = ["image_teacher", "text_teacher"].filter((r) => inputs[r] !== undefined);
  if (distill === 0) {
    if (bound.length === 0) return undefined;
    throw new Error(
      `loss clip: ${bound.join(" and ")} bound but distill is 0; set distill (e.g. 0.4) ` +
        "or unbind them",
    );
  }
  const missing = ["image_teacher", "text_teacher"].filter((r) => !bound.includes(r));
  if (missing.length > 0) {
    throw new Error(
      `loss clip: distill ${distill} needs the teachers' embeddings; bind ` +
        `${missing.join(" and ")} (ema nodes of the image and text sides), or set distill: 0`,
    );
  }
  let image = tensorInput("clip", inputs, "image_teacher");
  let text = tensorInput("clip", inputs, "text_teacher");
  if (normalize) [image, text] = [l2Normalize(image), l2Normalize(text)];
  return { image, text: text as Tensor2D };
}

/** The logit scale: exp θ of the `logit_scale` input, else the fixed `scale` parameter. */
function logitScale(inputs: Inputs, fixed: number): number | Scalar {
  if (inputs["logit_scale"] === undefined) return fixed;
  const theta = tensorInput("clip", inputs, "logit_scale");
  if (theta.size !== 1) {
    throw new Error(
      `loss clip: input "logit_scale" must be a scalar θ (scale = exp θ), got shape ` +
        `[${theta.shape.join(", ")}]; bind it to a logit_scale node`,
    );
  }
  return tf.exp(tf.reshape(theta, [])) as Scalar;
}

const createClip: LossFactory = (params: z.infer<typeof clipSchema>) => ({
  roles: ["image", "text", "logit_scale?", "image_teacher?", "text_teacher?"],
  fn: (inputs) =>
    tf.tidy(() => {
      let image = tensorInput("clip", inputs, "image");
      let text = tensorInput("clip", inputs, "text");
      const d = text.shape[1];
      const ok = text.rank === 2 && (image.rank === 2 || image.rank === 3) &&
        image.shape.at(-2) === text.shape[0] && image.shape.at(-1) === d;
      if (!ok) {
        throw new Error(
          `loss clip: image [${image.shape.join(", ")}] and text [${text.shape.join(", ")}] ` +
            `do not match; expected image [B, D] or [V, B, D] and text [B, D]`,
        );
      }
      if (params.normalize) [image, text] = [l2Normalize(image), l2Normalize(text)];
      const options = { scale: logitScale(inputs, params.scale), bias: params.bias };
      const alpha = params.distill ?? 0;
      const teachers = clipTeachers(inputs, alpha, params.normalize);
      // One view [B, D] of a [B, D] or [V, B, D] value.
      const view = (x: Tensor, v: number) => (x.rank === 2 ? x : viewAt(x, v)) as Tensor2D;
      const term = (v: number): Scalar => {
        const loss = clipLoss(view(image, v), text as Tensor2D, options);
        if (!teachers) return loss;
        if (teachers.image.rank === 3 && teachers.image.shape[0] !== image.shape.at(-3)) {
          throw new Error(
            `loss clip: image_teacher [${teachers.image.shape}] has other views than image ` +
              `[${image.shape}]; bind a teacher of the same views, or one [B, D]`,
          );
        }
        const teacher = { image: view(teachers.image, v), text: teachers.text };
        const soft = softTargetLoss(view(image, v), text as Tensor2D, teacher, options.scale);
        return tf.add(tf.mul(loss, 1 - alpha), tf.mul(soft, alpha)) as Scalar;
      };
      if (image.rank === 2) return term(0);
      const views = image.shape[0]!;
      const perView = Array.from({ length: views }, (_, v) => term(v));
      return tf.div(addAll(perView), views) as Scalar;
    }),
});

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
function stackViews(inputs: Inputs): Tensor3D {
  const raw = inputs["x"];
  const list = (Array.isArray(raw) && typeof raw[0] !== "string" ? raw : [raw]) as NodeValue[];
  const views = list.map((value, i) => {
    const t = value instanceof tf.Tensor ? value : undefined;
    if (!t || (t.rank !== 2 && t.rank !== 3)) {
      throw new Error(
        `loss sigreg: x[${i}] must be [B, K] or [V, B, K], got ${describe(value)}`,
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
