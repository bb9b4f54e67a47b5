/**
 * Reading a loss term's named inputs in registry entries: tensors by role,
 * learnable scalars (logit scale θ → exp θ, logit bias as is), optional
 * normalisation and per-view averaging. Errors name the loss, the role, what
 * arrived and what was expected.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { NodeValue } from "../core/types.ts";
import type { Scalar, Tensor, Tensor2D } from "../core/tensor.ts";
import { addAll } from "../core/ops.ts";
import { fmtShape, l2Normalize, viewAt } from "./common.ts";

/** A loss term's inputs as the graph hands them over. */
export type LossInputs = Record<string, NodeValue | NodeValue[]>;

/**
 * Describes a value for messages: its shape, or what it is instead.
 *
 * @param value Anything bound to a role.
 * @returns `shape [..]`, `a list of n values`, or the value itself.
 */
export function describeValue(value: unknown): string {
  if (value instanceof tf.Tensor) return `shape ${fmtShape(value.shape)}`;
  if (Array.isArray(value)) return `a list of ${value.length} values`;
  return value === undefined ? "nothing" : String(value);
}

/**
 * The tensor bound to `role`, or an error naming the loss, the role and what arrived.
 *
 * @param kind Loss kind, for messages.
 * @param inputs The term's inputs.
 * @param role Role name.
 * @returns The tensor.
 */
export function tensorInput(kind: string, inputs: LossInputs, role: string): Tensor {
  const value = inputs[role];
  if (!(value instanceof tf.Tensor)) {
    throw new Error(
      `loss ${kind}: input "${role}" must be a tensor, got ${describeValue(value)}; ` +
        `bind it to a node that outputs embeddings`,
    );
  }
  return value;
}

/** The scalar tensor bound to optional `role`, `undefined` when unbound. */
function scalarInput(kind: string, inputs: LossInputs, role: string): Scalar | undefined {
  if (inputs[role] === undefined) return undefined;
  const value = tensorInput(kind, inputs, role);
  if (value.size !== 1) {
    throw new Error(
      `loss ${kind}: input "${role}" must be a scalar, got shape ${fmtShape(value.shape)}; ` +
        `bind it to a logit_scale node (one learnable value)`,
    );
  }
  return tf.reshape(value, []) as Scalar;
}

/**
 * The logit scale: exp θ of the optional `logit_scale` input (θ in log space,
 * as the `logit_scale` node holds it), else the fixed parameter.
 *
 * @param kind Loss kind, for messages.
 * @param inputs The term's inputs.
 * @param fixed The `scale` parameter used when `logit_scale` is unbound.
 * @returns s, a number or a scalar tensor carrying θ's gradient.
 */
export function logitScale(kind: string, inputs: LossInputs, fixed: number): number | Scalar {
  const theta = scalarInput(kind, inputs, "logit_scale");
  return theta === undefined ? fixed : tf.exp(theta) as Scalar;
}

/**
 * The logit bias: the optional `logit_bias` input taken as is, else the fixed parameter.
 *
 * @param kind Loss kind, for messages.
 * @param inputs The term's inputs.
 * @param fixed The `bias` parameter used when `logit_bias` is unbound.
 * @returns b, a number or a scalar tensor.
 */
export function logitBias(kind: string, inputs: LossInputs, fixed: number): number | Scalar {
  return scalarInput(kind, inputs, "logit_bias") ?? fixed;
}

/**
 * L2-normalises `x` along its last axis when `normalize` is set.
 *
 * @param x Any tensor `[..., D]`.
 * @param normalize The entry's `normalize` parameter.
 * @returns `x` or its normalised copy.
 */
export function maybeNormalize(x: Tensor, normalize: boolean): Tensor {
  return normalize ? l2Normalize(x) : x;
}

/**
 * Applies a pairwise loss to `image` `[B, D]`, or to each view of `image`
 * `[V, B, D]` against the same `text` `[B, D]`, averaging over views.
 *
 * @param kind Loss kind, for messages.
 * @param pair `image` and `text` tensors.
 * @param loss The loss of one `[B, D]` pair.
 * @returns The (view-averaged) scalar loss.
 */
export function meanOverViews(
  kind: string,
  pair: { image: Tensor; text: Tensor; what?: string },
  loss: (image: Tensor2D, text: Tensor2D) => Scalar,
): Scalar {
  const { image, text } = pair;
  const ok = text.rank === 2 && (image.rank === 2 || image.rank === 3) &&
    image.shape.at(-2) === text.shape[0] && image.shape.at(-1) === text.shape[1];
  if (!ok) {
    throw new Error(
      `loss ${kind}: image ${fmtShape(image.shape)} and text ${fmtShape(text.shape)} do not ` +
        `match; expected image [B, ${pair.what ?? "D"}] or [V, B, ${pair.what ?? "D"}] and text ` +
        `[B, ${pair.what ?? "D"}]`,
    );
  }
  if (image.rank === 2) return loss(image as Tensor2D, text as Tensor2D);
  const views = image.shape[0]!;
  const per = Array.from({ length: views }, (_, v) => loss(viewAt(image, v), text as Tensor2D));
  return tf.div(addAll(per), views) as Scalar;
}
