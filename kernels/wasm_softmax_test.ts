/**
 * The generated row softmax (`kernels/wasm_softmax.ts`) against tfjs's
 * `softmax` on the CPU backend: widths with and without a scalar tail, logits
 * far apart (the polynomial `exp` at both ends of its range), a grouped bias
 * row with −1e9 masks, NaN propagation, and enough rows for the helper threads.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { assertClose, values, valuesOn } from "./testing.ts";
import { registerWasmKernels, runWasmKernel, type WasmKernelSpec } from "./wasm_register.ts";
import { softmaxRowsInPlace } from "./wasm_softmax.ts";

await initBackend("wasm");

/** Copies `x` `[R, T]` and runs the softmax in place, with bias row ⌊r / group⌋ of `bias`. */
const copyThenSoftmax: WasmKernelSpec = {
  name: "NovalabTestSoftmaxRows",
  run({ x, bias }, attrs, k) {
    const out = k.backend.makeOutput(x!.shape, "float32");
    const [rows, t] = x!.shape as [number, number];
    (k.view(out) as Float32Array).set(k.view(x!) as Float32Array);
    const group = Number(attrs.group ?? 1);
    softmaxRowsInPlace(k, { x: k.address(out), bias: bias ? k.address(bias) : 0, rows, t, group });
    return out;
  },
};

function softmaxRows(x: tf.Tensor, bias?: tf.Tensor, group = 1): tf.Tensor {
  registerWasmKernels([copyThenSoftmax]);
  const inputs: Record<string, tf.Tensor> = bias ? { x, bias } : { x };
  return runWasmKernel("NovalabTestSoftmaxRows", inputs, { group }) as tf.Tensor;
}

/** tfjs's softmax of `x + bias` (bias row ⌊r / group⌋) on the CPU backend; WASM active after. */
async function reference(
  x: Float32Array,
  shape: [number, number],
  bias?: Float32Array,
  group = 1,
): Promise<Float32Array[]> {
  const out = await valuesOn("cpu", () => {
    let logits = tf.tensor2d(x, shape);
    if (bias) {
      const rowsOfBias = Array.from({ length: shape[0] }, (_, r) => Math.floor(r / group));
      logits = tf.add(
        logits,
        tf.gather(tf.tensor2d(bias, [bias.length / shape[1], shape[1]]), rowsOfBias),
      );
    }
    return [tf.softmax(logits)];
  });
  await tf.setBackend("wasm");
  return out;
}

Deno.test("kernels/wasm_softmax: rows of any width match tfjs's softmax, spread logits included", async () => {
  for (
    const [rows, t, spread] of [[1, 1, 1], [3, 3, 1], [5, 4, 1], [7, 5, 30], [9, 17, 80], [
      600,
      97,
      10,
    ]]
  ) {
    const x = values(rows! * t!, t!).map((v) => v * spread!);
    const got = softmaxRows(tf.tensor2d(x, [rows!, t!]));
    const [expected] = await reference(x, [rows!, t!]);
    assertClose(got.dataSync() as Float32Array, expected!, `softmax ${rows}×${t} ±${spread}`, {
      atol: 1e-6,
      rtol: 1e-5,
    });
    tf.dispose(got);
  }
});

Deno.test("kernels/wasm_softmax: a grouped bias row masks keys; NaN stays NaN", async () => {
  const [rows, t, group] = [12, 6, 4];
  const x = values(rows * t, 3);
  const bias = Float32Array.from(
    { length: (rows / group) * t },
    (_, i) => (i % t) >= t - Math.floor(i / t) - 1 ? -1e9 : 0.5,
  );
  const got = softmaxRows(tf.tensor2d(x, [rows, t]), tf.tensor2d(bias, [rows / group, t]), group);
  const [expected] = await reference(x, [rows, t], bias, group);
  const data = got.dataSync() as Float32Array;
  assertClose(data, expected!, "masked softmax", { atol: 1e-6, rtol: 1e-5 });
  bias.forEach((b, i) => {
    if (b === -1e9) {
      const [g, j] = [Math.floor(i / t), i % t];
      for (let r = g * group; r < (g + 1) * group; r++) assert.equal(data[r * t + j], 0);
    }
  });
  tf.dispose(got);
  const withNaN = Float32Array.from([1, NaN, 2, 3, 0.5, 0.25, 0, 1]);
  const out = softmaxRows(tf.tensor2d(withNaN, [2, 4]));
  const v = out.dataSync();
  assert.ok([0, 1, 2, 3].every((j) => Number.isNaN(v[j])), "a NaN logit makes its row NaN");
  assertClose(
    v.slice(4) as Float32Array,
    (await reference(withNaN.slice(4), [1, 4]))[0]!,
    "clean row",
    {
      atol: 1e-6,
      rtol: 1e-5,
    },
  );
  tf.dispose(out);
});
