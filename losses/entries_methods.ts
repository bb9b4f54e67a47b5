/**
 * Registry entries of the method losses: `siglip`, `invariance` (LeJEPA),
 * `nclip`, `ito_fusion`, `ntxent` (SimCLR, SLIP) and `self_distillation`. Included in `lossEntries` (`losses/entries.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { LossFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { nonNegative, num, positiveInt } from "../core/schema.ts";
import type { Scalar, Tensor2D } from "../core/tensor.ts";
import { fmtShape, viewAt } from "./common.ts";
import {
  logitBias,
  logitScale,
  maybeNormalize,
  meanOverViews,
  tensorInput,
} from "./entry_inputs.ts";
import { ntXentLoss } from "./ntxent.ts";
import { invarianceLoss } from "./lejepa.ts";
import { nclipLoss } from "./nclip.ts";
import { sigLipLoss } from "./siglip.ts";
import { groupsInput } from "./multi_positive.ts";
import { selfDistillation } from "./self_distillation.ts";
import { hostValue } from "../core/host_value.ts";

const positive = () => num().pipe(z.number().positive("expected > 0"));

const siglipSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise image and text before the logits."),
  scale: num().default(10).describe(
    "Fixed logit scale s, used when no `logit_scale` input is bound (that one gives exp θ).",
  ),
  bias: num().default(-10).describe(
    "Fixed logit bias b, used when no `logit_bias` input is bound (SigLIP: b₀ = −10).",
  ),
});

const createSiglip: LossFactory = (params: z.infer<typeof siglipSchema>) => ({
  roles: ["image", "text", "logit_scale?", "logit_bias?", "groups?"],
  fn: (inputs) =>
    tf.tidy(() => {
      const image = tensorInput("siglip", inputs, "image");
      const text = tensorInput("siglip", inputs, "text");
      const options = {
        scale: logitScale("siglip", inputs, params.scale),
        bias: logitBias("siglip", inputs, params.bias),
      };
      let positives: Tensor2D | undefined | null = null;
      // Shapes are checked on the raw inputs, before normalisation.
      return meanOverViews("siglip", { image, text }, (i, t) => {
        if (positives === null) positives = groupsInput("siglip", inputs, t.shape[0]);
        return sigLipLoss(
          maybeNormalize(i, params.normalize) as Tensor2D,
          maybeNormalize(t, params.normalize) as Tensor2D,
          positives ? { ...options, positives } : options,
        );
      });
    }),
});

const invarianceSchema = z.strictObject({
  global: positiveInt().optional().describe(
    "Number of global views V_g: the first V_g views form the centre (default: all V).",
  ),
});

const createInvariance: LossFactory = (params: z.infer<typeof invarianceSchema>) => ({
  roles: ["x"],
  fn: (inputs) => {
    const x = tensorInput("invariance", inputs, "x");
    if (x.rank !== 3) {
      throw new Error(
        `loss invariance: input "x" must be views [V, B, K] (global views first), got ` +
          `${fmtShape(x.shape)}; bind it to a node fed by a views node`,
      );
    }
    return invarianceLoss(x, { global: params.global });
  },
});

const nclipSchema = z.strictObject({
  temperature: positive().default(0.1).describe(
    "Temperature τ of the predicted distributions (reconstructed default).",
  ),
  target_temperature: positive().default(0.1).describe(
    "Temperature τ_t of the target distributions; below τ sharpens them (reconstructed).",
  ),
  stop_gradient: z.boolean().default(false).describe(
    "Stop the gradient through the targets (reconstructed).",
  ),
  cross_weight: nonNegative().default(1).describe("Weight w_c of the cross-modal term."),
  sharpness_weight: nonNegative().default(1).describe("Weight w_sh of the sharpness term."),
  smoothness_weight: nonNegative().default(1).describe(
    "Weight w_sm of the smoothness term (subtracted).",
  ),
});

const createNclip: LossFactory = (params: z.infer<typeof nclipSchema>) => {
  const options = {
    temperature: params.temperature,
    targetTemperature: params.target_temperature,
    stopGradient: params.stop_gradient,
    crossWeight: params.cross_weight,
    sharpnessWeight: params.sharpness_weight,
    smoothnessWeight: params.smoothness_weight,
  };
  return {
    roles: ["image", "text"],
    fn: (inputs) =>
      tf.tidy(() =>
        meanOverViews(
          "nclip",
          {
            image: tensorInput("nclip", inputs, "image"),
            text: tensorInput("nclip", inputs, "text"),
            what: "Kp",
          },
          (i, t) => nclipLoss(i, t, options),
        )
      ),
  };
};

const itoFusionSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise the fused embeddings first."),
  scale: num().default(1 / 0.07).describe(
    "Fixed logit scale s, used when no `logit_scale` input is bound (that one gives exp θ).",
  ),
});

/**
 * NT-Xent of the two views bound to `role` (`[2, B, D]`), normalised when
 * `normalize`, at exp θ of a bound `logit_scale` or else `scale`; `expected`
 * ends the shape error (what to bind).
 */
function ntXentOfViews(
  kind: string,
  inputs: Parameters<LossFactory>[0],
  role: string,
  options: { normalize: boolean; scale: number; expected: string },
): Scalar {
  return tf.tidy(() => {
    const views = tensorInput(kind, inputs, role);
    if (views.rank !== 3 || views.shape[0] !== 2) {
      throw new Error(
        `loss ${kind}: input "${role}" must be ${
          options.expected.replace("{}", fmtShape(views.shape))
        }`,
      );
    }
    const z = maybeNormalize(views, options.normalize);
    return ntXentLoss(viewAt(z, 0), viewAt(z, 1), {
      scale: logitScale(kind, inputs, options.scale),
    });
  });
}

const createItoFusion: LossFactory = (params: z.infer<typeof itoFusionSchema>) => ({
  roles: ["fused", "logit_scale?"],
  fn: (inputs) =>
    ntXentOfViews("ito_fusion", inputs, "fused", {
      normalize: params.normalize,
      scale: params.scale,
      expected: "the two views' fused embeddings [2, B, D], got {}; bind it to a fusion node " +
        "fed by two views",
    }),
});

const ntXentSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise the views' embeddings first."),
  temperature: positive().default(0.1).describe(
    "Temperature τ (SimCLR's and SLIP's 0.1): the logits are cosines / τ; used when no " +
      "`logit_scale` input is bound (that one gives exp θ = 1/τ).",
  ),
});

const createNtXent: LossFactory = (params: z.infer<typeof ntXentSchema>) => ({
  roles: ["views", "logit_scale?"],
  fn: (inputs) =>
    ntXentOfViews("ntxent", inputs, "views", {
      normalize: params.normalize,
      scale: 1 / params.temperature,
      expected: "two views' embeddings [2, B, D], got {}; bind it to a node fed by a views " +
        "node with count: 2 (or a take_views of two of them)",
    }),
});

const selfDistillationSchema = z.strictObject({
  student_temperature: positive().default(0.1).describe(
    "Temperature τ_s of the student's softmax (DINO: 0.1).",
  ),
  teacher_temperature: positive().default(0.04).describe(
    "Temperature τ_t of the teacher's targets, below τ_s to sharpen them (DINO: 0.04; with " +
      "teacher_warmup, the value it reaches).",
  ),
  teacher_warmup: z.strictObject({
    from: positive().describe("τ_t at the first step (DINO: 0.04)."),
    steps: positiveInt().describe(
      "Updates over which τ_t rises linearly from `from` to teacher_temperature (DINO: 30 " +
        "epochs' worth), then stays.",
    ),
  }).optional().describe(
    "DINO's teacher-temperature warm-up (e.g. 0.04 → 0.07): low at first, while the young " +
      "teacher's targets are unreliable, so they stay sharp without collapsing (absent: none).",
  ),
});

/** τ_t after `updates` applied updates: `from` → `to` over `steps`, then `to`. */
export function warmedTemperature(
  updates: number,
  to: number,
  warmup?: { from: number; steps: number },
): number {
  if (!warmup) return to;
  return warmup.from + (to - warmup.from) * Math.min(updates / warmup.steps, 1);
}

const createSelfDistillation: LossFactory = (
  params: z.infer<typeof selfDistillationSchema>,
) => ({
  roles: ["student", "teacher"],
  fn: (inputs, ctx) => {
    const { teacher_temperature: to, teacher_warmup: warmup } = params;
    // A host value: a replayed step computes the temperature of its own update count.
    const progress = ctx.progress;
    const teacherTemperature = warmup
      ? hostValue(() => Float32Array.of(warmedTemperature(progress?.updates() ?? 0, to, warmup)))
      : to;
    return selfDistillation(
      tensorInput("self_distillation", inputs, "student"),
      tensorInput("self_distillation", inputs, "teacher"),
      { studentTemperature: params.student_temperature, teacherTemperature },
    );
  },
});

/**
 * Entries of the method losses (SigLIP, LeJEPA invariance, nCLIP, ITO fusion,
 * SimCLR's NT-Xent, DINO self-distillation).
 */
export const methodLossEntries: RegistryEntry<LossFactory>[] = [
  {
    kind: "siglip",
    summary: "SigLIP pairwise sigmoid loss (arXiv 2303.15343): image [B, D] or [V, B, D] vs text " +
      "[B, D]; optional logit_scale θ (s = exp θ) and logit_bias",
    schema: siglipSchema,
    create: createSiglip,
  },
  {
    kind: "invariance",
    summary: "LeJEPA multi-view invariance (arXiv 2511.08544): mean (μ_global − z[v])² over " +
      "views x [V, B, K]",
    schema: invarianceSchema,
    create: createInvariance,
  },
  {
    kind: "nclip",
    summary: "nCLIP (arXiv 2210.09304): cross-modal prototype cross-entropy + sharpness − " +
      "smoothness over prototype logits image/text [B, Kp]",
    schema: nclipSchema,
    create: createNclip,
  },
  {
    kind: "ito_fusion",
    summary: "ITO fusion NT-Xent (arXiv 2603.02767) across two views' fused embeddings " +
      "fused [2, B, D], CLIP logit scale as temperature",
    schema: itoFusionSchema,
    create: createItoFusion,
  },
  {
    kind: "ntxent",
    summary: "SimCLR NT-Xent (arXiv 2002.05709; SLIP's image term, arXiv 2112.12750) between " +
      "two views `views` [2, B, D]: each row's positive is its other view, the other 2B − 2 rows " +
      "its negatives; temperature τ or a logit_scale",
    schema: ntXentSchema,
    create: createNtXent,
  },
  {
    kind: "self_distillation",
    summary: "DINO self-distillation (arXiv 2104.14294; SILC's local-to-global term): teacher " +
      "targets [Vt, B, K] for student scores [Vs, B, K] on every other view",
    schema: selfDistillationSchema,
    create: createSelfDistillation,
  },
];
