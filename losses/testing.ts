/**
 * Helpers for the loss room's tests: seeded Gaussian tensors, unit rows,
 * scalar read-back, tolerant comparison, batch permutation and a leak check.
 *
 * @module
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import type { Scalar, Tensor } from "../core/tensor.ts";

/**
 * A tensor of i.i.d. N(0, 1) entries from `seed`.
 *
 * @param shape Any shape.
 * @param seed Seed of the generator.
 * @returns The tensor (caller disposes).
 */
export function gaussian(shape: number[], seed: number): Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => rng.normal()), shape);
}

/**
 * {@link gaussian}, L2-normalised along the last axis.
 *
 * @param shape Any shape `[..., D]`.
 * @param seed Seed of the generator.
 * @returns Unit rows (caller disposes).
 */
export function unitGaussian(shape: number[], seed: number): Tensor {
  const x = gaussian(shape, seed);
  const out = tf.tidy(() => tf.div(x, tf.norm(x, 2, -1, true)));
  x.dispose();
  return out;
}

/**
 * Reads a scalar (CPU backend) and disposes it.
 *
 * @param s A scalar tensor.
 * @returns Its value.
 */
export function read(s: Scalar): number {
  const v = s.dataSync()[0]!;
  s.dispose();
  return v;
}

/**
 * Asserts `|a − b| ≤ tol · max(1, |b|)`.
 *
 * @param a Actual.
 * @param b Expected.
 * @param tol Relative tolerance (default 1e-5).
 */
export function close(a: number, b: number, tol = 1e-5): void {
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${a} vs ${b} (tol ${tol})`);
}

/**
 * Permutes the batch axis of `x` (axis `axis`) by `perm`.
 *
 * @param x Any tensor.
 * @param perm A permutation of the batch indices.
 * @param axis The batch axis (default 0).
 * @returns The gathered tensor (caller disposes).
 */
export function permuteBatch(x: Tensor, perm: number[], axis = 0): Tensor {
  return tf.tidy(() => tf.gather(x, tf.tensor1d(perm, "int32"), axis));
}

/**
 * Asserts that `f` (forward and gradients w.r.t. `inputs`) leaves no tensors behind.
 *
 * @param f A scalar function of the inputs.
 * @param inputs Points to evaluate at.
 */
export function assertNoLeak(f: (...xs: Tensor[]) => Scalar, inputs: Tensor[]): void {
  const before = tf.memory().numTensors;
  tf.dispose(f(...inputs));
  const grads = tf.grads(f)(inputs);
  grads.forEach((g) => assert.ok(g.dataSync().every(Number.isFinite), "finite gradients"));
  tf.dispose(grads);
  assert.equal(tf.memory().numTensors, before, "tensor count unchanged");
}
