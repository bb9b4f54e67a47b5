/**
 * LayerNorm over the last axis on tfjs's WASM backend as two kernels (the
 * generated SIMD `layer_norm` and `layer_norm_grad`, `kernels/wasm_rows.ts`),
 * in place of the op composition's ~10 forward and ~25 backward kernels:
 *
 * - forward `[x, γ, β] → [y, μ, 1/σ]` (two-pass mean and variance per row;
 *   the row statistics are kept for the backward pass), rows cut over the
 *   helper threads;
 * - backward `[x, γ, dy, μ, 1/σ] → [dx, dγ, dβ]` with
 *   `dx = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂))/σ`, `ĝ = dy·γ`, `x̂ = (x − μ)/σ`,
 *   blocks of rows cut over the helper threads (`kernels/wasm_row_parts.ts`).
 *
 * Values equal the composition (`kernels/layernorm.ts`) within float32
 * rounding.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import {
  registerWasmKernels,
  requireFloat32,
  runWasmKernel,
  type WasmKernelSpec,
} from "./wasm_register.ts";
import { cutRanges } from "./wasm_threads.ts";
import { runBlockParts, threadedRows } from "./wasm_row_parts.ts";

/** Kernel name of the forward pass. */
export const WASM_LAYER_NORM = "NovalabWasmLayerNorm";
/** Floats below which the forward pass runs on one thread (waking a helper costs microseconds). */
const MIN_SPLIT_FLOATS = 1 << 15;
/** Kernel name of the backward pass. */
export const WASM_LAYER_NORM_GRAD = "NovalabWasmLayerNormGrad";

function rowsOf(x: tf.TensorInfo): [number, number] {
  const d = x.shape.at(-1) ?? 1;
  return [d === 0 ? 0 : x.shape.reduce((p, s) => p * s, 1) / d, d];
}

const forwardKernel: WasmKernelSpec = {
  name: WASM_LAYER_NORM,
  run({ x, gamma, beta }, attrs, k) {
    requireFloat32(x!, "x");
    const eps = Number(attrs.eps);
    const [rows, d] = rowsOf(x!);
    const outs = [
      k.backend.makeOutput(x!.shape, "float32"),
      k.backend.makeOutput([rows], "float32"),
      k.backend.makeOutput([rows], "float32"),
    ];
    const [xa, ga, ba, ya, ma, ra] = [x!, gamma!, beta!, ...outs].map((t) => k.address(t));
    if (!k.threads || rows * d < MIN_SPLIT_FLOATS) {
      k.fns.layer_norm!(xa, ga, ba, ya, ma, ra, rows, d, eps);
      return outs;
    }
    // Rows are independent: each thread normalises a range of them (same values as one thread).
    k.threads.parallel(
      "layer_norm",
      (threads) =>
        cutRanges(rows, threads, 1).map(([start, count]) => [
          xa! + 4 * start * d,
          ga!,
          ba!,
          ya! + 4 * start * d,
          ma! + 4 * start,
          ra! + 4 * start,
          count,
          d,
          eps,
        ]),
    );
    return outs;
  },
};

const backwardKernel: WasmKernelSpec = {
  name: WASM_LAYER_NORM_GRAD,
  run({ x, gamma, dy, mean, rstd }, _attrs, k) {
    const [rows, d] = rowsOf(x!);
    const outs = [
      k.backend.makeOutput(x!.shape, "float32"),
      k.backend.makeOutput([d], "float32"),
      k.backend.makeOutput([d], "float32"),
    ];
    const [xa, ga, ya, ma, ra, dxa, dga, dba] = [x!, gamma!, dy!, mean!, rstd!, ...outs].map((t) =>
      k.address(t)
    ) as number[];
    if (!threadedRows(k, rows, d)) {
      k.fns.layer_norm_grad!(xa, ga, ya, ma, ra, dxa, dga, dba, rows, d, k.scratch(2 * d));
      return outs;
    }
    runBlockParts(k, {
      fn: "layer_norm_grad_parts",
      rows,
      width: 2 * d,
      args: (start, count, parts) => {
        const [row, stat] = [4 * start * d, 4 * start];
        return [xa! + row, ga!, ya! + row, ma! + stat, ra! + stat, dxa! + row, parts, count, d];
      },
      sums: [dga!, dba!],
    });
    return outs;
  },
};

const byEps = new Map<number, (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor>();

function differentiable(eps: number): (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor {
  let f = byEps.get(eps);
  if (f) return f;
  f = tf.customGrad((...args: Array<Tensor | GradSaveFunc>) => {
    const [x, gamma, beta, save] = args as [Tensor, Tensor, Tensor, GradSaveFunc];
    const [y, mean, rstd] = runWasmKernel(WASM_LAYER_NORM, { x, gamma, beta }, { eps }) as Tensor[];
    save([x, gamma, mean!, rstd!]);
    return {
      value: y!,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sx, sg, sm, sr] = saved as Tensor[];
        const [dx, dg, db] = runWasmKernel(WASM_LAYER_NORM_GRAD, {
          x: sx!,
          gamma: sg!,
          dy,
          mean: sm!,
          rstd: sr!,
        }) as Tensor[];
        return [dx!, dg!.reshape(sg!.shape), db!.reshape(beta.shape)];
      },
    };
  }) as unknown as (x: Tensor, gamma: Tensor, beta: Tensor) => Tensor;
  byEps.set(eps, f);
  return f;
}

/**
 * LayerNorm of float32 `x` `[..., D]` with scale `gamma` and shift `beta`
 * (`[D]`) on the wasm backend, differentiable in all three (callers check
 * `wasmKernelsActive()`, `kernels/wasm_runtime.ts`).
 */
export function wasmLayerNorm(x: Tensor, gamma: Tensor, beta: Tensor, eps: number): Tensor {
  registerWasmKernels([forwardKernel, backwardKernel]);
  const d = x.shape.at(-1);
  if (gamma.size !== d || beta.size !== d) {
    throw new Error(
      `kernels/wasm_layernorm.ts: gamma [${gamma.shape}] and beta [${beta.shape}] must have ` +
        `the size of x's last axis (${d}; x is [${x.shape}])`,
    );
  }
  return differentiable(eps)(x, gamma, beta);
}
