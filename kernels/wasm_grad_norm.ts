/**
 * The global gradient norm and clipping's factor on tfjs's WASM backend,
 * `NovalabGlobalNorm` (the WebGPU kernel's name and contract,
 * `kernels/grad_norm.ts`): inputs `g0…g(n−1)`, attr `maxNorm` (0: no
 * clipping) → `[norm, scale]`, two `[1]` tensors, `norm = √(Σ g²)` over every
 * element of every gradient and `scale = min(1, maxNorm / (norm + 1e-6))`.
 *
 * The op composition (`core/clip_grad.ts` `globalNorm`) issues a cast, a
 * square and a sum per gradient and adds the sums — for NOVA's 74 gradients
 * ~230 of the step's ~1,000 tfjs kernel calls, each a pass over memory with
 * tfjs's per-call overhead. Here one generated SIMD loop (`sum_squares`)
 * reads each gradient once, in chunks of {@linkcode CHUNK_FLOATS} whose
 * float32 partial sums are added in float64, so the norm is at least as
 * accurate as the composition's float32 sums (it is not bit-identical to
 * them: the order of the additions differs). A non-finite gradient gives a
 * non-finite norm and factor, as the composition does, so the trainer's
 * non-finite guard still fires.
 *
 * Export of the generated module: `sum_squares(x, n, out)`: `n` a multiple of
 * 16; writes four float32 lane sums of `x[i]²` to `out`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "../core/tensor.ts";
import { FunctionBuilder, type ModuleBuilder } from "./wasm_asm.ts";
import type { WasmKernels } from "./wasm_runtime.ts";
import { registerWasmKernels, requireFloat32, type WasmKernelSpec } from "./wasm_register.ts";
import { GLOBAL_NORM } from "./grad_norm.ts";

/** Floats per call of the generated loop (its float32 sums are added in float64). */
export const CHUNK_FLOATS = 1 << 14;
/** Floats the generated loop takes per iteration (four accumulators of four lanes). */
const STEP = 16;

/** Adds `sum_squares` to `m` (see the module notes). */
export function addSumSquaresKernel(m: ModuleBuilder): void {
  const f = new FunctionBuilder(["i32", "i32", "i32"]);
  const [x, n, out] = [0, 1, 2].map((i) => f.param(i));
  const i = f.local("i32"), x4 = f.local("v128");
  const acc = [0, 1, 2, 3].map(() => f.local("v128"));
  for (const a of acc) f.f32x4(0).set(a);
  f.for(i, () => f.i32(0), () => f.get(n).i32(4).op("i32.mul"), 4 * STEP, () => {
    acc.forEach((a, j) => {
      f.get(x).get(i).op("i32.add").loadV(16 * j).set(x4);
      f.get(a).get(x4).get(x4).simd("f32x4.mul").simd("f32x4.add").set(a);
    });
  });
  f.get(out);
  f.get(acc[0]!).get(acc[1]!).simd("f32x4.add").get(acc[2]!).get(acc[3]!).simd("f32x4.add");
  f.simd("f32x4.add").storeV();
  m.add(f, "sum_squares");
}

/** `Σ x²` over a float32 tensor's data, in float64 across chunks. */
function sumOfSquares(k: WasmKernels, g: tf.TensorInfo, out: number): number {
  const size = g.shape.reduce((a, b) => a * b, 1);
  const body = size - (size % STEP), at = k.address(g);
  let total = 0;
  for (let start = 0; start < body; start += CHUNK_FLOATS) {
    k.fns.sum_squares!(at + 4 * start, Math.min(CHUNK_FLOATS, body - start), out);
    const lanes = k.floats(out, 4);
    total += lanes[0]! + lanes[1]! + lanes[2]! + lanes[3]!;
  }
  if (body < size) {
    const view = k.view(g);
    for (let j = body; j < size; j++) total += Math.fround(view[j]! * view[j]!);
  }
  return total;
}

const globalNormKernel: WasmKernelSpec = {
  name: GLOBAL_NORM,
  run(inputs, attrs, k) {
    const grads = Object.keys(inputs).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
      .map((name) => inputs[name]!);
    grads.forEach((g, j) => requireFloat32(g, `gradient g${j}`));
    const out = k.scratch(4);
    let total = 0;
    for (const g of grads) total += sumOfSquares(k, g, out);
    const maxNorm = Number(attrs.maxNorm ?? 0);
    const norm = Math.fround(Math.sqrt(total));
    // Math.min keeps a NaN (the composition's tf.minimum does too: the guard sees it).
    const scale = maxNorm > 0 ? Math.min(Math.fround(maxNorm / Math.fround(norm + 1e-6)), 1) : 1;
    const outputs = [norm, scale].map((value) => {
      const t = k.backend.makeOutput([1], "float32");
      k.view(t)[0] = value;
      return t;
    });
    return outputs;
  },
};

/**
 * `[norm, scale]` of `grads` on the active wasm backend (callers check
 * `wasmKernelsActive()`; every gradient float32): see the module notes.
 * `maxNorm` 0 means no clipping (scale 1). Both outputs are `[1]` tensors
 * owned by the caller.
 */
export function wasmGlobalNorm(grads: Tensor[], maxNorm: number): [Tensor, Tensor] {
  registerWasmKernels([globalNormKernel]);
  const inputs = Object.fromEntries(grads.map((g, i) => [`g${i}`, g]));
  const [norm, scale] = tf.engine().runKernel(GLOBAL_NORM, inputs, { maxNorm }) as Tensor[];
  return [norm!, scale!];
}
