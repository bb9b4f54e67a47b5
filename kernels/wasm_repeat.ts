/**
 * `times` copies of a float32 tensor along a new leading axis on tfjs's WASM
 * backend, `NovalabWasmRepeat`: one block copy per copy (`TypedArray.set`,
 * a memcpy). tfjs-backend-wasm's `Tile` computes every output element's
 * source index one by one — 27.5 ms for `[128, 16, 100]` × 2 (ITO's text
 * tokens per image crop) and 49.7 ms for `[50, 64]` × 256 on this project's
 * machine, against ≈ 1 ms for the same bytes copied as blocks
 * (`kernels/wasm_repeat_test.ts` checks the values).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "../core/tensor.ts";
import { registerWasmKernels, requireFloat32, type WasmKernelSpec } from "./wasm_register.ts";

/** Kernel name. */
export const WASM_REPEAT = "NovalabWasmRepeat";

const repeatKernel: WasmKernelSpec = {
  name: WASM_REPEAT,
  run(inputs, attrs, k) {
    const x = inputs["x"]!;
    requireFloat32(x, "x");
    const times = Number(attrs["times"]);
    const out = k.backend.makeOutput([times, ...x.shape], "float32");
    const source = k.view(x), target = k.view(out); // views after the allocation
    for (let i = 0; i < times; i++) target.set(source, i * source.length);
    return out;
  },
};

/**
 * `[times, ...x.shape]`: `times` copies of float32 `x` on the active wasm
 * backend (callers check `wasmKernelsActive()`), no gradient (see
 * `core/ops.ts` `repeatLeading`).
 */
export function wasmRepeat(x: Tensor, times: number): Tensor {
  registerWasmKernels([repeatKernel]);
  return tf.engine().runKernel(WASM_REPEAT, { x }, { times }) as Tensor;
}
