/**
 * The tfjs tensor types as novalab's public API names them. Aliases keep the
 * package's documentation self-contained (JSR's doc lint flags types from
 * other packages that the package does not export).
 *
 * @module
 */
import type * as tf from "@tensorflow/tfjs";

/** A tfjs tensor of any rank. */
export type Tensor = tf.Tensor;
/** A rank-0 tfjs tensor. */
export type Scalar = tf.Scalar;
/** A rank-1 tfjs tensor. */
export type Tensor1D = tf.Tensor1D;
/** A rank-2 tfjs tensor (`[rows, cols]`). */
export type Tensor2D = tf.Tensor2D;
/** A rank-3 tfjs tensor. */
export type Tensor3D = tf.Tensor3D;
/** A rank-4 tfjs tensor (images: `[B, H, W, C]`). */
export type Tensor4D = tf.Tensor4D;
/** A trainable (or frozen) tfjs variable. */
export type Variable = tf.Variable;
/** Function a custom gradient uses to save tensors for its backward pass. */
export type GradSaveFunc = tf.GradSaveFunc;
