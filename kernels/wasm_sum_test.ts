/**
 * `Sum` and `Mean` over leading axes on WASM (`kernels/wasm_sum.ts`): the
 * same values as the CPU backend (any prefix of axes, negative and unsorted
 * axes, keepDims, more rows than a sum block, odd widths), the stock kernel
 * for everything else (int32, inner or all axes), broadcast gradients summed
 * correctly, and no `Transpose` issued.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { profileKernels } from "../bench/kernel_profile.ts";
import { assertClose, values, valuesOn } from "./testing.ts";
import { registerWasmKernels, useWasmKernels } from "./wasm_register.ts";
import { leadingReduction, leadingSumsInstalled } from "./wasm_sum.ts";

await initBackend("wasm");
registerWasmKernels([]);

Deno.test("kernels/wasm_sum: leadingReduction accepts a leading prefix of the axes only", () => {
  assert.deepEqual(leadingReduction([4, 5, 6], 0), { rows: 4, cols: 30, kept: [5, 6] });
  assert.deepEqual(leadingReduction([4, 5, 6], [1, 0]), { rows: 20, cols: 6, kept: [6] });
  assert.deepEqual(leadingReduction([4, 5, 6], [-3, -2]), { rows: 20, cols: 6, kept: [6] });
  for (const axis of [undefined, null, 1, [0, 2], [0, 1, 2], []] as const) {
    assert.equal(leadingReduction([4, 5, 6], axis as number[] | number | null), undefined);
  }
});

/** Reductions of `x` over several axis choices: sums and means, with and without keepDims. */
function reductions(x: tf.Tensor): tf.Tensor[] {
  const r = x.rank;
  const choices: number[][] = [[0], [0, 1].slice(0, r - 1), [-r], [r - 1], [...Array(r).keys()]];
  return choices.flatMap((axes) => [
    tf.sum(x, axes),
    tf.mean(x, axes, true),
    tf.sum(x.toInt(), axes),
  ]);
}

Deno.test("kernels/wasm_sum: sums and means match the CPU backend; other reductions are stock", async () => {
  for (const shape of [[3, 5], [300, 7], [2, 130, 9], [600, 3, 2]]) {
    const data = values(shape.reduce((a, b) => a * b, 1), shape.length).map((v) => v * 4);
    const expected = await valuesOn("cpu", () => reductions(tf.tensor(data, shape)));
    await initBackend("wasm");
    const got = tf.tidy(() => reductions(tf.tensor(data, shape)).map((t) => t.dataSync()));
    got.forEach((g, i) =>
      assertClose(Float32Array.from(g), expected[i]!, `[${shape}] reduction ${i}`, {
        atol: 1e-4,
        rtol: 1e-5,
      })
    );
  }
});

Deno.test("kernels/wasm_sum: a broadcast's gradient sums over the batch, through the one-pass sum", () => {
  assert.ok(leadingSumsInstalled());
  const x = tf.tensor(values(256 * 40, 1), [256, 40]);
  const b = tf.tensor(values(40, 2), [40]);
  const [gb] = tf.grads((bb: tf.Tensor) => tf.sum(tf.mul(tf.add(x, bb), x)))([b]);
  const direct = tf.tidy(() => tf.sum(x, 0).dataSync() as Float32Array);
  assertClose(gb!.dataSync() as Float32Array, direct, "dL/db = Σ x", { atol: 1e-5, rtol: 1e-5 });
  tf.sum(x, 0).dispose(); // the kernels are in place before the profiler wraps the registry
  const profiler = profileKernels("wasm");
  profiler.phase("sum");
  tf.tidy(() => [tf.sum(x, 0), tf.mean(x.reshape([16, 16, 40]), [0, 1])]);
  const calls = new Map(profiler.read().map((s) => [s.kernel, s.calls]));
  profiler.detach();
  assert.deepEqual([calls.get("Sum"), calls.get("Mean"), calls.get("Transpose")], [
    1,
    1,
    undefined,
  ]);
  tf.dispose([x, b, gb!]);
});

Deno.test("kernels/wasm_sum: the replacements keep the stock kernels' setup (a later backend init)", () => {
  for (const name of ["Sum", "Mean"]) {
    assert.equal(typeof tf.getKernel(name, "wasm")?.setupFunc, "function", name);
  }
});

Deno.test("kernels/wasm_sum: turning novalab's kernels off puts the stock reductions back", () => {
  useWasmKernels(false);
  try {
    assert.ok(!leadingSumsInstalled());
    const x = tf.tensor(values(64 * 8, 3), [64, 8]);
    const stockSum = tf.sum(x, 0);
    useWasmKernels(undefined);
    registerWasmKernels([]);
    assert.ok(leadingSumsInstalled());
    assertClose(
      tf.sum(x, 0).dataSync() as Float32Array,
      stockSum.dataSync() as Float32Array,
      "same",
      {
        atol: 1e-5,
        rtol: 1e-6,
      },
    );
    tf.dispose([x, stockSum]);
  } finally {
    useWasmKernels(undefined);
    registerWasmKernels([]);
  }
});
