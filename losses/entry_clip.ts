/**
 * The `clip` loss entry: CLIP's symmetric InfoNCE (`losses/clip.ts`) per
 * image view, with ALBEF's momentum distillation (`distill`, teachers'
 * soft targets: `losses/clip_distill.ts`; against queues of earlier batches'
 * teacher features: `losses/clip_queue.ts`) and UniCL's multi-positive targets
 * (`groups`: `losses/multi_positive.ts`; with the queues, a `group_queue`
 * node's ids: ALBEF's retrieval targets) as options. Included in
 * `lossEntries` (`losses/entries.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { LossFactory } from "../core/components.ts";
import { num, positiveInt, probability } from "../core/schema.ts";
import { hostValue } from "../core/host_value.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { l2Normalize } from "../kernels/l2_normalize.ts";
import { clipLoss } from "./clip.ts";
import { distillTargets } from "./clip_distill.ts";
import { queueClipLoss } from "./clip_queue.ts";
import { fmtShape, viewAt } from "./common.ts";
import { type LossInputs, maybeNormalize, meanOverViews, tensorInput } from "./entry_inputs.ts";
import { groupsInput, positiveTargets, queuedGroupsInput } from "./multi_positive.ts";

/** Parameters of the `clip` loss. */
export const clipSchema = z.strictObject({
  normalize: z.boolean().default(true).describe("L2-normalise image and text before the logits."),
  scale: num().default(1 / 0.07).describe(
    "Fixed logit scale s, used when no `logit_scale` input is bound (that one gives exp θ).",
  ),
  bias: num().optional().describe("Logit bias b added to every logit (absent: none)."),
  distill: probability().optional().describe(
    "Momentum distillation weight α (ALBEF: 0.4; absent: 0): targets `(1 − α)·hard + " +
      "α·softmax` of the teachers' similarities, from the `image_teacher` and `text_teacher` " +
      "inputs (ema nodes); hard = one-hot, or the `groups` positives.",
  ),
  queue_keys: z.enum(["teacher", "student"]).optional().describe(
    "With image_queue/text_queue: the in-batch keys beside the queues — the teachers' features " +
      "of this batch (absent or `teacher`: ALBEF's code, MoCo) or the students' own, with " +
      "gradient (`student`: CLIP's in-batch contrast plus the queued negatives); the " +
      "distillation targets use the teachers' either way.",
  ),
  distill_warmup: positiveInt().optional().describe(
    "Updates over which α ramps linearly up from 0 (ALBEF: one epoch, `α·min(1, i / " +
      "len(loader))`), so the young teachers' targets weigh little (absent: α from the start).",
  ),
});

/**
 * The distillation weight after `updates` applied updates: `alpha`, ramped
 * linearly from 0 over `warmup` updates when given (ALBEF's first epoch).
 *
 * @param updates Updates applied before this step.
 * @param alpha The full weight α.
 * @param warmup Updates of the ramp, if any.
 * @returns α at this step.
 */
export function distillWeight(updates: number, alpha: number, warmup?: number): number {
  return warmup ? alpha * Math.min(updates / warmup, 1) : alpha;
}

/** The teachers' embeddings `clip` distils from, or none (`distill: 0`); errors name the roles. */
function clipTeachers(
  inputs: LossInputs,
  distill: number,
  normalize: boolean,
  queued: boolean,
): { image: Tensor; text: Tensor2D } | undefined {
  const bound = ["image_teacher", "text_teacher"].filter((r) => inputs[r] !== undefined);
  if (queued && bound.length < 2) {
    throw new Error(
      "loss clip: image_queue and text_queue are keys beside the teachers' features of this " +
        "batch (ALBEF, MoCo); bind image_teacher and text_teacher (ema nodes) too",
    );
  }
  if (distill === 0 && !queued) {
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
  const image = tensorInput("clip", inputs, "image_teacher");
  const text = tensorInput("clip", inputs, "text_teacher");
  return normalize
    ? { image: l2Normalize(image), text: l2Normalize(text) as Tensor2D }
    : { image, text: text as Tensor2D };
}

/** The queues of earlier batches' teacher features `[K, D]`, both or neither. */
function clipQueues(
  inputs: LossInputs,
  normalize: boolean,
): { image: Tensor2D; text: Tensor2D } | undefined {
  const roles = ["image_queue", "text_queue"];
  const bound = roles.filter((r) => inputs[r] !== undefined);
  if (bound.length === 0) return undefined;
  if (bound.length === 1) {
    throw new Error(
      `loss clip: ${bound[0]} is bound without ${roles.find((r) => r !== bound[0])}; ALBEF ` +
        "queues both sides' features (two queue nodes), or neither",
    );
  }
  const [image, text] = roles.map((r) => {
    const q = tensorInput("clip", inputs, r);
    if (q.rank !== 2) {
      throw new Error(`loss clip: ${r} must be [K, D] (a queue node), got ${fmtShape(q.shape)}`);
    }
    return maybeNormalize(q, normalize) as Tensor2D;
  });
  return { image: image!, text: text! };
}

/** UniCL's in-batch targets of the `groups` input, if bound. */
function groupsTargets(inputs: LossInputs, batch: number): Tensor2D | undefined {
  const positives = groupsInput("clip", inputs, batch);
  return positives && positiveTargets(positives);
}

/** ALBEF's targets over `[batch; queue]` of a `group_queue` node's ids, if bound. */
function queuedGroups(
  inputs: LossInputs,
  teacherImage: Tensor,
  batch: number,
  queued: number,
): Tensor2D | undefined {
  if (inputs["groups"] !== undefined && teacherImage.rank === 3 && teacherImage.shape[0] > 1) {
    throw new Error(
      `loss clip: groups with queues needs one teacher row per sample: image_teacher ` +
        `[${teacherImage.shape}] has ${teacherImage.shape[0]} views, so its queue takes ` +
        `${teacherImage.shape[0]} rows per sample and the group ids (one per sample) would not ` +
        "stay beside them; take one view (e.g. a take_views node) and feed both image_teacher " +
        "and the image_queue node from it",
    );
  }
  return queuedGroupsInput("clip", inputs, batch, queued);
}

/** The logit scale: exp θ of the `logit_scale` input, else the fixed `scale` parameter. */
function logitScale(inputs: LossInputs, fixed: number): number | Scalar {
  if (inputs["logit_scale"] === undefined) return fixed;
  const theta = tensorInput("clip", inputs, "logit_scale");
  if (theta.size !== 1) {
    throw new Error(
      `loss clip: input "logit_scale" must be a scalar θ (scale = exp θ), got shape ` +
        `${fmtShape(theta.shape)}; bind it to a logit_scale node`,
    );
  }
  return tf.exp(tf.reshape(theta, [])) as Scalar;
}

/** Creates a `clip` term from its parsed parameters. */
export const createClip: LossFactory = (params: z.infer<typeof clipSchema>) => ({
  roles: [
    "image",
    "text",
    "logit_scale?",
    "image_teacher?",
    "text_teacher?",
    "groups?",
    "image_queue?",
    "text_queue?",
  ],
  fn: (inputs, ctx) =>
    tf.tidy(() => {
      const rawImage = tensorInput("clip", inputs, "image");
      const rawText = tensorInput("clip", inputs, "text");
      const options = { scale: logitScale(inputs, params.scale), bias: params.bias };
      const alpha = params.distill ?? 0;
      const queues = clipQueues(inputs, params.normalize);
      const teachers = clipTeachers(inputs, alpha, params.normalize, queues !== undefined);
      if (params.queue_keys === "student" && !queues) {
        throw new Error(
          "loss clip: queue_keys: student picks the keys beside image_queue/text_queue, which " +
            "are not bound; bind them, or drop queue_keys",
        );
      }
      if (params.distill_warmup !== undefined && alpha === 0) {
        throw new Error(
          `loss clip: distill_warmup ${params.distill_warmup} ramps the distillation weight, but ` +
            "distill is 0; set distill (e.g. 0.4) or drop distill_warmup",
        );
      }
      // A host value: a replayed step computes the weight of its own update count.
      const progress = ctx.progress, warmup = params.distill_warmup;
      const weight = warmup
        ? hostValue(
          () => Float32Array.of(distillWeight(progress?.updates() ?? 0, alpha, warmup)),
          [],
        )
        : alpha;
      const image = maybeNormalize(rawImage, params.normalize);
      const text = maybeNormalize(rawText, params.normalize);
      const views = rawImage.rank === 3 ? rawImage.shape[0] : 1;
      let view = 0, hard: Tensor2D | undefined | null = null;
      return meanOverViews("clip", { image, text }, (one, text) => {
        const v = view++;
        if (v === 0 && teachers?.image.rank === 3 && teachers.image.shape[0] !== views) {
          throw new Error(
            `loss clip: image_teacher [${teachers.image.shape}] has other views than image ` +
              `[${rawImage.shape}]; bind a teacher of the same views, or one [B, D]`,
          );
        }
        // The hard targets: UniCL's with groups bound (over the batch and, with queues,
        // their rows: a group_queue node's ids), else the diagonal (no weights).
        if (hard === null) {
          hard = queues
            ? queuedGroups(inputs, teachers!.image, text.shape[0], queues.image.shape[0])
            : groupsTargets(inputs, text.shape[0]);
        }
        if (!teachers) return clipLoss(one, text, { ...options, targets: hard });
        const teacher = {
          image: teachers.image.rank === 2 ? teachers.image as Tensor2D : viewAt(teachers.image, v),
          text: teachers.text,
        };
        if (queues) {
          const keys = { ...teacher, imageQueue: queues.image, textQueue: queues.text };
          const alpha = weight as number | Scalar;
          const batchKeys = params.queue_keys;
          return queueClipLoss(one, text, keys, { ...options, alpha, targets: hard, batchKeys });
        }
        // ALBEF: (1 − α)·hard + α·soft targets, one cross-entropy.
        const targets = tf.add(
          tf.mul(hard ?? tf.eye(text.shape[0]), tf.sub(1, weight)),
          tf.mul(distillTargets(teacher, options.scale), weight),
        ) as Tensor2D;
        return clipLoss(one, text, { ...options, targets });
      });
    }),
});
