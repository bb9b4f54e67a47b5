/**
 * Matrix products whose backward pass avoids tfjs's transposed-operand
 * matmul paths. On the WASM backend `matMul(a, b, false, true)` and
 * `matMul(a, b, true, false)` are ~10× slower than an explicit transpose
 * followed by a plain product (measured: 38 ms vs 2.8 ms for
 * [4352,128]·[64,128]ᵀ), and the stock gradient of `matMul` uses exactly
 * those variants. This wrapper computes the same values and gradients with
 * explicit transposes only.
 *
 * On WebGPU with novalab's kernels (`kernels/matmul.ts`) the opposite holds:
 * the kernel reads every transposed layout directly, so there `matmul` is
 * tfjs's own `matMul` with the transpose flags, and its gradient (tfjs's, again
 * transposed-operand products) needs no transpose dispatches at all.
 *
 * On WASM with novalab's WASM kernels (`kernels/wasm_matmul.ts`, on unless
 * `NOVALAB_WASM_KERNELS=0`) every product, forward and backward, is the
 * generated SIMD GEMM, which also reads transposed operands in place.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import { novalabKernelsActive } from "../kernels/install.ts";
import { wasmKernelsActive } from "../kernels/wasm_runtime.ts";
import { wasmMatMul } from "../kernels/wasm_matmul.ts";

function swapLast(x: Tensor): Tensor {
  if (x.rank === 2) return tf.transpose(x);
  const perm = [...Array(x.rank).keys()];
  perm[x.rank - 1] = x.rank - 2;
  perm[x.rank - 2] = x.rank - 1;
  return tf.transpose(x, perm);
}

function plainProductGrad(
  ...args: Array<Tensor | GradSaveFunc>
): { value: Tensor; gradFunc: (dy: Tensor, saved: Tensor[]) => Tensor[] } {
  const [a, b, save] = args as [Tensor, Tensor, GradSaveFunc];
  save([a, b]);
  return {
    value: tf.matMul(a, b),
    gradFunc: (dy, saved) => {
      const [sa, sb] = saved as [Tensor, Tensor];
      return [tf.matMul(dy, swapLast(sb)), tf.matMul(swapLast(sa), dy)];
    },
  };
}

const plainProduct = tf.customGrad(plainProductGrad) as unknown as (
  a: Tensor,
  b: Tensor,
) => Tensor;

/**
 * `a · b` (optionally with either operand transposed) for rank-2 `[M, K]·[K, N]`
 * or equal-batch rank-3 `[G, M, K]·[G, K, N]` operands. Values equal `tf.matMul`;
 * gradients use explicit transposes, except on WebGPU with novalab's kernels,
 * where the transposed-operand products run directly, and on WASM with
 * novalab's WASM kernels, where every product is their GEMM.
 */
export function matmul(
  a: Tensor,
  b: Tensor,
  options: { transposeA?: boolean; transposeB?: boolean } = {},
): Tensor {
  if (novalabKernelsActive()) {
    return tf.matMul(a, b, options.transposeA ?? false, options.transposeB ?? false);
  }
  if (
    wasmKernelsActive() && a.dtype === "float32" && b.dtype === "float32" && a.rank === b.rank &&
    (a.rank === 2 || (a.rank === 3 && a.shape[0] === b.shape[0]))
  ) {
    return wasmMatMul(a, b, options);
  }
  const left = options.transposeA ? swapLast(a) : a;
  const right = options.transposeB ? swapLast(b) : b;
  return plainProduct(left, right);
}
