/**
 * `repeatLeading` (`core/ops.ts`) on WASM runs novalab's block-copy kernel
 * (`kernels/wasm_repeat.ts`) instead of tfjs-wasm's element-by-element
 * `Tile`: the same values as the CPU backend's tile for several shapes and
 * counts, and the gradient is the sum over the copies.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { repeatLeading } from "../core/ops.ts";
import { profileKernels } from "../bench/kernel_profile.ts";
import { values, valuesOn } from "./testing.ts";
import { WASM_REPEAT } from "./wasm_repeat.ts";

await initBackend("wasm");

const CASES: [number[], number][] = [[[3], 1], [[2, 5], 3], [[4, 3, 7], 2], [[1, 1, 8], 17]];

function input(shape: number[]): tf.Tensor {
  return tf.tensor(values(shape.reduce((a, b) => a * b, 1), shape.length + 1), shape);
}

Deno.test("kernels/wasm_repeat: repeatLeading's values and gradient match the CPU's tile", async () => {
  for (const [shape, times] of CASES) {
    const expected = await valuesOn("cpu", () => {
      const x = input(shape);
      const w = input([times, ...shape]);
      const f = (v: tf.Tensor) =>
        tf.sum(tf.mul(tf.tile(tf.expandDims(v, 0), [times, ...shape.map(() => 1)]), w));
      return [tf.tile(tf.expandDims(x, 0), [times, ...shape.map(() => 1)]), tf.grad(f)(x)];
    });
    await initBackend("wasm");
    const x = input(shape), w = input([times, ...shape]);
    const y = repeatLeading(x, times);
    const g = tf.grad((v: tf.Tensor) => tf.sum(tf.mul(repeatLeading(v, times), w)))(x);
    assert.deepEqual(y.shape, [times, ...shape]);
    assert.deepEqual(y.dataSync(), expected[0], `values [${shape}] × ${times}`);
    const got = g.dataSync();
    got.forEach((v, i) => assert.ok(Math.abs(v - expected[1]![i]!) <= 1e-5, `gradient ${i}`));
    tf.dispose([x, w, y, g]);
  }
});

Deno.test("kernels/wasm_repeat: the block-copy kernel runs, not tfjs's Tile", () => {
  const x = input([4, 6]);
  repeatLeading(x, 2).dispose(); // registers the kernel before the profiler wraps the registry
  const profiler = profileKernels("wasm");
  profiler.phase("repeat");
  repeatLeading(x, 5).dispose();
  const calls = new Map(profiler.read().map((s) => [s.kernel, s.calls]));
  profiler.detach();
  assert.equal(calls.get(WASM_REPEAT), 1);
  assert.equal(calls.get("Tile"), undefined);
  x.dispose();
});
