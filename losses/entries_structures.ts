/**
 * Registry entries of the latent-modality-structure losses (arXiv 2303.05952):
 * `contrastive4`, `feature_separation`, `brownian_bridge`,
 * `geometric_consistency`, and CyCLIP's `cyclip`. Included in `lossEntries` (`losses/entries.ts`).
 *
 * Image inputs are two views `[2, B, D]` (original first, augmented second);
 * text is `[B, D]`, or `[2, B, D]` when captions are augmented too. CyCLIP's
 * image is `[B, D]`, or views `[V, B, D]` (averaged over views).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { LossFactory } from "../core/components.ts";
import type { RegistryEntry } from "../core/registry.ts";
import { nonNegative, num, probability } from "../core/schema.ts";
import type { Scalar, Tensor2D } from "../core/tensor.ts";
import { brownianBridgeLoss } from "./brownian_bridge.ts";
import { contrastive4Loss } from "./contrastive4.ts";
import { groupsInput, positiveTargets } from "./multi_positive.ts";
import { logitScale, maybeNormalize, meanOverViews, tensorInput } from "./entry_inputs.ts";
import { featureSeparationLoss } from "./feature_separation.ts";
import { geometricConsistencyLoss } from "./geometric_consistency.ts";
import { cyclipLoss } from "./cyclip.ts";

const contrastive4Schema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise image and text before the logits."),
  scale: num().default(1 / 0.07).describe(
    "Fixed logit scale s, used when no `logit_scale` input is bound (that one gives exp θ).",
  ),
});

/** `image` and `text` of a term, normalised when `normalize`. */
function pair(kind: string, inputs: Parameters<LossFactory>[0], normalize: boolean) {
  return {
    image: maybeNormalize(tensorInput(kind, inputs, "image"), normalize),
    text: maybeNormalize(tensorInput(kind, inputs, "text"), normalize),
  };
}

const createContrastive4: LossFactory = (params: z.infer<typeof contrastive4Schema>) => ({
  roles: ["image", "text", "logit_scale?", "groups?"],
  fn: (inputs) =>
    tf.tidy(() => {
      const { image, text } = pair("contrastive4", inputs, params.normalize);
      // UniCL's positives for all four terms (a shape error is contrastive4Loss's to report).
      const positives = image.rank === 3
        ? groupsInput("contrastive4", inputs, image.shape[1]!)
        : undefined;
      return contrastive4Loss(image, text, {
        scale: logitScale("contrastive4", inputs, params.scale),
        ...(positives && { targets: positiveTargets(positives) }),
      });
    }),
});

const separationSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise all four inputs first."),
  scale: num().default(1 / 0.07).describe(
    "Fixed logit scale s of the in-modal InfoNCE, used when no `logit_scale` input is bound.",
  ),
  t: nonNegative().default(2).describe("Uniformity temperature t."),
  ortho_weight: nonNegative().default(1).describe(
    "Weight of the orthogonality term (shared vs independent features).",
  ),
  contrastive_weight: nonNegative().default(1).describe(
    "Weight of the in-modal contrastive term.",
  ),
  uniformity_weight: nonNegative().default(1).describe("Weight of the uniformity term."),
});

const createSeparation: LossFactory = (params: z.infer<typeof separationSchema>) => ({
  roles: ["image", "text", "image_ind", "text_ind", "logit_scale?"],
  fn: (inputs) =>
    tf.tidy(() => {
      const kind = "feature_separation";
      const shared = pair(kind, inputs, params.normalize);
      const independent = {
        image: maybeNormalize(tensorInput(kind, inputs, "image_ind"), params.normalize),
        text: maybeNormalize(tensorInput(kind, inputs, "text_ind"), params.normalize),
      };
      return featureSeparationLoss(shared, independent, {
        scale: logitScale(kind, inputs, params.scale),
        t: params.t,
        orthoWeight: params.ortho_weight,
        contrastiveWeight: params.contrastive_weight,
        uniformityWeight: params.uniformity_weight,
      });
    }),
});

const bridgeSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise image and text first."),
  t: probability().default(0.25).describe("Bridge time t: the weight of the image end."),
});

const createBridge: LossFactory = (params: z.infer<typeof bridgeSchema>) => ({
  roles: ["image", "text"],
  fn: (inputs) =>
    tf.tidy(() => {
      const { image, text } = pair("brownian_bridge", inputs, params.normalize);
      return brownianBridgeLoss(image, text, { t: params.t });
    }),
});

const geometricSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise image and text first."),
  plain_weight: nonNegative().default(1).describe("Weight of the plain-view term."),
  augmented_weight: nonNegative().default(1).describe("Weight of the augmented-view term."),
});

const createGeometric: LossFactory = (params: z.infer<typeof geometricSchema>) => ({
  roles: ["image", "text"],
  fn: (inputs) =>
    tf.tidy(() => {
      const { image, text } = pair("geometric_consistency", inputs, params.normalize);
      return geometricConsistencyLoss(image, text, {
        plainWeight: params.plain_weight,
        augmentedWeight: params.augmented_weight,
      }) as Scalar;
    }),
});

const cyclipSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise image and text first."),
  in_modal_weight: nonNegative().default(0.25).describe(
    "λ_I, the weight of ‖S_II − S_TT‖²_F / N (CyCLIP: 0.25).",
  ),
  cross_modal_weight: nonNegative().default(0.25).describe(
    "λ_C, the weight of ‖S_IT − S_ITᵀ‖²_F / N (CyCLIP: 0.25).",
  ),
});

const createCyclip: LossFactory = (params: z.infer<typeof cyclipSchema>) => ({
  roles: ["image", "text"],
  fn: (inputs) =>
    tf.tidy(() => {
      const options = {
        inModalWeight: params.in_modal_weight,
        crossModalWeight: params.cross_modal_weight,
      };
      // Shapes are checked on the raw inputs, before normalisation.
      return meanOverViews(
        "cyclip",
        {
          image: tensorInput("cyclip", inputs, "image"),
          text: tensorInput("cyclip", inputs, "text"),
        },
        (i, t) =>
          cyclipLoss(
            maybeNormalize(i, params.normalize) as Tensor2D,
            maybeNormalize(t, params.normalize) as Tensor2D,
            options,
          ),
      );
    }),
});

/**
 * Entries of the latent-modality-structure losses (arXiv 2303.05952) and
 * CyCLIP's cyclic consistency (arXiv 2205.14459).
 */
export const structureLossEntries: RegistryEntry<LossFactory>[] = [
  {
    kind: "contrastive4",
    summary: "¼(V2T + T2V + V2V + T2T) InfoNCE (arXiv 2303.05952): image [2, B, D] views, " +
      "text [B, D] or [2, B, D]",
    schema: contrastive4Schema,
    create: createContrastive4,
  },
  {
    kind: "feature_separation",
    summary: "feature separation (arXiv 2303.05952): orthogonality of shared vs independent " +
      "features + in-modal InfoNCE + uniformity on the independent ones",
    schema: separationSchema,
    create: createSeparation,
  },
  {
    kind: "brownian_bridge",
    summary: "Brownian bridge (arXiv 2303.05952): mean ‖z^a_V − normalise(t z_V + (1−t) z_T)‖², " +
      "image [2, B, D], text [B, D]",
    schema: bridgeSchema,
    create: createBridge,
  },
  {
    kind: "geometric_consistency",
    summary: "geometric consistency (arXiv 2303.05952): plain + augmented-view similarity " +
      "agreement, image [2, B, D], text [B, D] or [2, B, D]",
    schema: geometricSchema,
    create: createGeometric,
  },
  {
    kind: "cyclip",
    summary: "CyCLIP cyclic consistency (arXiv 2205.14459): λ_I‖S_II − S_TT‖²/N + " +
      "λ_C‖S_IT − S_ITᵀ‖²/N, image [B, D] or [V, B, D], text [B, D]; beside a clip term",
    schema: cyclipSchema,
    create: createCyclip,
  },
];
