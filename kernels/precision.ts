/**
 * The operand precision of novalab's WebGPU matmul kernel, set per run by the
 * recipe's `precision:` key. `fp32` (the default) computes in single precision
 * throughout. `f16` rounds both matmul operands to half precision as the
 * kernel stages them into workgroup memory (saturating at ±65504), then forms
 * every product and sum in fp32 — the numerics of a tensor-core fp16 GEMM with
 * fp32 accumulation (each f16 × f16 product is exact in fp32). Parameters,
 * optimiser state, activations in memory and every other op stay fp32. It
 * needs the WebGPU adapter's `shader-f16` feature; asking for it anywhere else
 * is an error naming what is missing, never a silent fp32 run.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { hasShaderF16 } from "../core/webgpu_device.ts";

import type { Precision } from "../core/recipe/types.ts";
export type { Precision } from "../core/recipe/types.ts";

/** The valid `precision:` values. */
export const PRECISIONS: readonly Precision[] = ["fp32", "f16"];

let current: Precision = "fp32";

/** The matmul operand precision in force now. */
export function matMulPrecision(): Precision {
  return current;
}

/**
 * Sets the matmul operand precision for the active backend. `f16` requires the
 * webgpu backend with novalab's kernels and a device with `shader-f16`; it
 * throws a message naming the active backend or adapter otherwise, and leaves
 * the precision unchanged.
 */
export function setMatMulPrecision(precision: Precision, kernelsInstalled: boolean): void {
  if (!(PRECISIONS as readonly string[]).includes(precision)) {
    throw new Error(
      `kernels/precision.ts: precision '${precision}' is not valid; valid choices: ${
        PRECISIONS.join(", ")
      }`,
    );
  }
  if (precision === "f16") {
    const name = tf.getBackend();
    const why = name !== "webgpu"
      ? `the active backend is ${name}`
      : !kernelsInstalled
      ? "novalab's WebGPU kernels are not installed (NOVALAB_STOCK_KERNELS=1?)"
      : !hasShaderF16(tf.backend() as WebGPUBackend)
      ? "the WebGPU adapter does not offer shader-f16"
      : null;
    if (why) {
      throw new Error(
        `precision: f16 needs WebGPU with novalab's kernels and the adapter feature shader-f16, ` +
          `but ${why}; use precision: fp32 (the default), or backend: webgpu on a GPU ` +
          `whose adapter lists shader-f16`,
      );
    }
  }
  current = precision;
}
