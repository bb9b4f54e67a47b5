/**
 * Row lookup in an embedding table whose gradient works on every backend.
 * `tf.gather`'s gradient uses the `UnsortedSegmentSum` kernel, which the tfjs
 * WASM backend (the CPU default) does not register; this lookup scatters the
 * gradient with `ScatterNd` instead (registered on WASM, WebGPU and CPU; it
 * sums the rows of repeated indices, as the gradient of a lookup requires).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";

function lookupGrad(
  ...args: Array<Tensor | GradSaveFunc>
): { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] } {
  const [table, rows, save] = args as [Tensor, Tensor, GradSaveFunc];
  save([rows]);
  return {
    value: tf.gather(table, rows),
    gradFunc: (dy, saved) => {
      const indices = tf.expandDims(saved[0]!, 1);
      return [tf.scatterND(indices, dy, table.shape), tf.zerosLike(saved[0]!)];
    },
  };
}

const lookup = tf.customGrad(lookupGrad) as unknown as (table: Tensor, rows: Tensor) => Tensor;

/**
 * `table[rows]`: rows `[N]` (int32) of a table `[V, D]` → `[N, D]`, with a
 * gradient for the table that every backend supports.
 */
export function embedRows(table: Tensor, rows: Tensor): Tensor {
  return lookup(table, rows);
}
