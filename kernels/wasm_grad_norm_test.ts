/**
 * The global gradient norm on WASM (`kernels/wasm_grad_norm.ts`, reached
 * through `core/clip_grad.ts` `clipScale`): the norm and clipping's factor
 * agree with the op composition's (the same backend with novalab's kernels
 * off) and with a float64 sum, over sizes around the 16-float SIMD step and
 * the chunk of float64 accumulation; non-finite gradients give the
 * composition's NaN or ∞; one kernel call in place of a cast, a square and a
 * sum per gradient; nothing leaks.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { clipScale } from "../core/clip_grad.ts";
import { profileKernels } from "../bench/kernel_profile.ts";
import { values } from "./testing.ts";
import { GLOBAL_NORM } from "./grad_norm.ts";
import { CHUNK_FLOATS } from "./wasm_grad_norm.ts";
import { useWasmKernels } from "./wasm_register.ts";

await initBackend("wasm");

/** 23 gradients of 1 to 3·CHUNK_FLOATS + 5 elements, different scales. */
function gradients(): Map<string, tf.Tensor> {
  const sizes = [1, 3, 15, 16, 17, 33, CHUNK_FLOATS - 1, CHUNK_FLOATS + 16, 3 * CHUNK_FLOATS + 5];
  return new Map(
    [...Array(23).keys()].map((i) => [
      `p${i}`,
      tf.tensor1d(values(sizes[i % sizes.length]!, i + 1).map((v) => v * (i % 4 + 1))),
    ]),
  );
}

/** `[norm, scale]` from `clipScale` on the current kernels (scale null without `maxNorm`). */
function normAndScale(
  grads: Map<string, tf.Tensor>,
  maxNorm: number | undefined,
): [number, number | null] {
  const { norm, scale } = clipScale(grads, maxNorm);
  const out: [number, number | null] = [norm.dataSync()[0]!, scale ? scale.dataSync()[0]! : null];
  tf.dispose([norm, ...(scale ? [scale] : [])]);
  return out;
}

/** The same with novalab's WASM kernels off (tfjs's ops: cast, square, sum per gradient). */
function composed(grads: Map<string, tf.Tensor>, maxNorm?: number): [number, number | null] {
  useWasmKernels(false);
  try {
    return normAndScale(grads, maxNorm);
  } finally {
    useWasmKernels(undefined);
  }
}

Deno.test("kernels/wasm_grad_norm: the composition's norm and factor, float64-accurate", () => {
  const grads = gradients();
  let exact = 0;
  for (const g of grads.values()) for (const v of g.dataSync()) exact += v * v;
  exact = Math.sqrt(exact);
  for (const maxNorm of [1, 1e6, undefined]) {
    const [norm, scale] = normAndScale(grads, maxNorm);
    const [refNorm, refScale] = composed(grads, maxNorm);
    assert.ok(Math.abs(norm - exact) <= 1e-6 * exact, `norm ${norm} vs float64 ${exact}`);
    assert.ok(Math.abs(norm - refNorm) <= 1e-5 * refNorm, `norm ${norm} vs composition ${refNorm}`);
    if (maxNorm === undefined) assert.equal(scale, null);
    else assert.ok(Math.abs(scale! - refScale!) <= 1e-5 * refScale!, `scale ${scale}/${refScale}`);
  }
  assert.ok(normAndScale(grads, 1)[1]! < 1, "the sample is clipped");
  assert.equal(normAndScale(grads, 1e6)[1], 1, "and not clipped under the limit");
  tf.dispose([...grads.values()]);
});

Deno.test("kernels/wasm_grad_norm: non-finite gradients give the composition's norm and factor", () => {
  const cases = [
    [tf.tensor1d([1, NaN, 2]), tf.tensor1d([Infinity])],
    [tf.tensor1d([1, 2]), tf.tensor1d(new Float32Array(37).fill(-Infinity))],
    [tf.tensor1d(new Float32Array(40).fill(3e30))], // squares overflow float32
  ];
  for (const list of cases) {
    const grads = new Map(list.map((g, i) => [`g${i}`, g]));
    const [norm, scale] = normAndScale(grads, 1);
    const [refNorm, refScale] = composed(grads, 1);
    assert.ok(Object.is(norm, refNorm), `norm ${norm} vs composition ${refNorm}`);
    assert.ok(Object.is(scale, refScale), `scale ${scale} vs composition ${refScale}`);
    tf.dispose(list);
  }
});

Deno.test("kernels/wasm_grad_norm: one kernel call for every gradient, nothing leaks", () => {
  const grads = gradients();
  normAndScale(grads, 1); // registers the kernel before the profiler wraps the registry
  const before = tf.memory().numTensors;
  const profiler = profileKernels("wasm");
  profiler.phase("norm");
  normAndScale(grads, 1);
  const calls = new Map(profiler.read().map((s) => [s.kernel, s.calls]));
  profiler.detach();
  assert.equal(calls.get(GLOBAL_NORM), 1);
  for (const stock of ["Square", "Sum", "Cast", "AddN"]) assert.equal(calls.get(stock), undefined);
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([...grads.values()]);
});
