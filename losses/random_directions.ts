/**
 * SIGReg's random unit directions: `M` directions in `ℝ^K`, each a column of
 * Gaussian entries divided by its norm, drawn afresh every step from the
 * step's seed.
 *
 * The stream: column m's rows `4j … 4j+3` are the Box–Muller normals of
 * Philox4x32-10 at counter `(j, m, 0, 0)` under the seed's 64-bit key
 * (`core/philox.ts`). On WebGPU with novalab's kernels the GPU draws them
 * (`kernels/random_directions.ts`: only the key is a host value); elsewhere
 * JavaScript draws the same words in float64. Either way the directions agree
 * to float32 rounding, and a replayed step (`core/replayable_step.ts`) draws
 * its own.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { hostValue } from "../core/host_value.ts";
import { normalsFromBits, philoxKey, philoxWords } from "../core/philox.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { RANDOM_DIRECTIONS } from "../kernels/random_directions.ts";
import type { Tensor2D } from "../core/tensor.ts";

function checkSize(dim: number, slices: number): void {
  for (const [name, value] of [["dim", dim], ["slices", slices]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(`randomDirections: ${name} must be a positive integer, got ${value}`);
    }
  }
}

/**
 * `M` random unit directions in `ℝ^K` from `seed`: Gaussian entries, each
 * column L2-normalised; the same on every backend up to float32 rounding.
 *
 * @param dim Embedding dimension K.
 * @param slices Number of directions M.
 * @param seed Any safe integer.
 * @returns Directions `[K, M]`.
 */
export function randomDirections(dim: number, slices: number, seed: number): Tensor2D {
  checkSize(dim, slices);
  philoxKey(seed); // a bad seed fails here, not at a replay
  // Host values: a replayed step (core/replayable_step.ts) draws its own directions.
  if (novalabKernelsActive()) {
    return tf.tidy(() => {
      const key = hostValue((host) => Int32Array.from(philoxKey(host.seed(seed))), [2]);
      return tf.engine().runKernel(RANDOM_DIRECTIONS, { key }, { dim, slices }) as Tensor2D;
    });
  }
  return hostValue((host) => directionValues(dim, slices, host.seed(seed)), [
    dim,
    slices,
  ]) as Tensor2D;
}

/**
 * The values of {@linkcode randomDirections} drawn in JavaScript (float64,
 * rounded once), `[K, M]` row-major.
 *
 * @param dim Embedding dimension K.
 * @param slices Number of directions M.
 * @param seed Any safe integer.
 * @returns `K · M` values, row k at `[k·M, (k+1)·M)`.
 */
export function directionValues(dim: number, slices: number, seed: number): Float32Array {
  checkSize(dim, slices);
  const key = philoxKey(seed);
  const out = new Float32Array(dim * slices);
  const column = new Float64Array(dim);
  const bits = new Uint32Array(4);
  for (let m = 0; m < slices; m++) {
    for (let j = 0; 4 * j < dim; j++) {
      philoxWords(j, m, 0, 0, key[0], key[1], bits);
      normalsFromBits(bits, column, 4 * j);
    }
    let sq = 0;
    for (let k = 0; k < dim; k++) sq += column[k]! * column[k]!;
    const inv = 1 / Math.sqrt(sq);
    for (let k = 0; k < dim; k++) out[k * slices + m] = column[k]! * inv;
  }
  return out;
}
