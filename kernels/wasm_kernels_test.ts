/**
 * novalab's WASM kernels (generated SIMD GEMM, linear, column sum, LayerNorm,
 * attention) against tfjs's op compositions on the same backend: forward
 * values and gradients at odd shapes, shapes that span several packed blocks
 * of the GEMM (K > 256, N > 512, rows not a multiple of the tile), and no
 * tensor leaks across repeated gradient steps.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { assertClose, values } from "./testing.ts";
import { wasmColumnSum, wasmLinear, wasmMatMul } from "./wasm_matmul.ts";
import { wasmLayerNorm } from "./wasm_layernorm.ts";
import { wasmAttention } from "./wasm_attention.ts";
import { wasmGelu } from "./wasm_gelu.ts";
import { layerNormComposite } from "./layernorm.ts";
import { wasmKernelsActive } from "./wasm_runtime.ts";
import { GEMM_KC, GEMM_NC } from "./wasm_gemm.ts";
import { ROW_BLOCK } from "./wasm_rows.ts";
import { checkScratchGuards } from "./wasm_register.ts";

await initBackend("wasm");
checkScratchGuards(true);
const opts = { sanitizeOps: false, sanitizeResources: false };
/** fp32 products of up to ~600 terms of O(1) values, different summation order. */
const TOL = { atol: 1e-4, rtol: 1e-4 };

function tensor(shape: number[], seed: number, scale = 1): tf.Tensor {
  const n = shape.reduce((p, d) => p * d, 1);
  return tf.tensor(values(n, seed).map((x) => x * scale), shape);
}

/** Value and gradients of Σ f(inputs)·w, for the fast and the reference path. */
function valueAndGrads(f: (...x: tf.Tensor[]) => tf.Tensor, inputs: tf.Tensor[]): Float32Array[] {
  return tf.tidy(() => {
    const y = f(...inputs);
    const w = tensor(y.shape, 99);
    const grads = tf.grads((...x: tf.Tensor[]) => tf.sum(tf.mul(f(...x), w)))(inputs);
    return [y, ...grads].map((t) => t.dataSync() as Float32Array);
  });
}

function compare(
  what: string,
  fast: (...x: tf.Tensor[]) => tf.Tensor,
  reference: (...x: tf.Tensor[]) => tf.Tensor,
  shapes: number[][],
  tol = TOL,
  scale = 1,
): void {
  const inputs = shapes.map((s, i) => tensor(s, i + 1, scale));
  const actual = valueAndGrads(fast, inputs);
  const expected = valueAndGrads(reference, inputs);
  actual.forEach((a, i) =>
    assertClose(a, expected[i]!, `${what} ${i ? `grad ${i}` : "value"}`, tol)
  );
  tf.dispose(inputs);
}

Deno.test({
  name: "kernels/wasm_matmul: every transpose variant, batched, blocked — values and gradients",
  ...opts,
  fn() {
    assert.ok(wasmKernelsActive());
    const cases: [number, number, number, number][] = [
      [0, 1, 1, 1],
      [0, 7, 13, 9],
      [0, 33, GEMM_KC + 45, 70],
      [0, 5, 3, GEMM_NC + 37],
      [3, 5, 7, 6],
      [2, 50, 16, 50],
    ];
    for (const [g, m, k, n] of cases) {
      for (const [ta, tb] of [[false, false], [false, true], [true, false], [true, true]]) {
        const lead = g ? [g] : [];
        const sa = [...lead, ...(ta ? [k, m] : [m, k])], sb = [...lead, ...(tb ? [n, k] : [k, n])];
        compare(
          `matmul ${g}×${m}×${k}×${n} ta=${ta} tb=${tb}`,
          (a, b) => wasmMatMul(a!, b!, { transposeA: ta, transposeB: tb }),
          (a, b) => tf.matMul(a!, b!, ta, tb),
          [sa, sb],
        );
      }
    }
  },
});

Deno.test({
  name: "kernels/wasm_matmul: linear with bias and ReLU epilogue, column sum",
  ...opts,
  fn() {
    const rows = ROW_BLOCK * 2 + 17; // several blocks of the bias-gradient column sums
    for (const [r, i, o] of [[1, 1, 1], [13, 7, 9], [rows, 64, 70], [5, GEMM_KC + 3, 11]]) {
      compare(
        `linear+relu ${r}×${i}→${o}`,
        (x, w, b) => wasmLinear(x!, w!, b!, true),
        (x, w, b) => tf.relu(tf.add(tf.matMul(x!, w!), b!)),
        [[r!, i!], [i!, o!], [o!]],
      );
      compare(
        `linear ${r}×${i}→${o}`,
        (x, w) => wasmLinear(x!, w!, undefined, false),
        (x, w) => tf.matMul(x!, w!),
        [[r!, i!], [i!, o!]],
      );
    }
    for (const shape of [[3, 17, 5], [rows, 7]]) {
      const x = tensor(shape, 7);
      const axes = shape.slice(0, -1).map((_, i) => i);
      assertClose(wasmColumnSum(x).dataSync(), tf.sum(x, axes).dataSync(), "column sum", TOL);
      x.dispose();
    }
  },
});

Deno.test({
  name: "kernels/wasm_layernorm: forward and gradients match the composition",
  ...opts,
  fn() {
    // [300, 130]: enough rows for the forward pass to run on the helper threads.
    const shapes = [[1, 1], [3, 5], [2, 17, 33], [70, 9], [3, 300], [ROW_BLOCK + 5, 2, 8], [
      300,
      130,
    ]];
    for (const shape of shapes) {
      const d = shape.at(-1)!;
      compare(
        `layernorm [${shape}]`,
        (x, g, b) => wasmLayerNorm(x!, g!, b!, 1e-6),
        (x, g, b) => layerNormComposite(x!, g!, b!, 1e-6),
        [shape, [d], [d]],
        { atol: 2e-5, rtol: 1e-4 },
        3,
      );
    }
  },
});

/** The attention of `models/vit.ts` before the fused kernel: split, heads, softmax, merge. */
function attentionComposite(qkv: tf.Tensor, heads: number): tf.Tensor {
  const [n, t, d3] = qkv.shape as [number, number, number];
  const d = d3 / 3, dh = d / heads;
  const toHeads = (m: tf.Tensor) =>
    m.reshape([n, t, heads, dh]).transpose([0, 2, 1, 3]).reshape([n * heads, t, dh]);
  const [q, k, v] = tf.split(qkv, 3, -1).map(toHeads);
  const p = tf.softmax(tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(dh)));
  return tf.matMul(p, v!).reshape([n, heads, t, dh]).transpose([0, 2, 1, 3]).reshape([n, t, d]);
}

Deno.test({
  name: "kernels/wasm_attention: forward and gradient match the split/transpose composition",
  ...opts,
  fn() {
    // [3, 97, 16, 2]: 582 softmax rows of 97, enough to run on the helper threads.
    for (
      const [n, t, d, heads] of [[1, 1, 3, 1], [2, 5, 12, 3], [3, 7, 6, 2], [2, 50, 64, 4], [
        3,
        97,
        16,
        2,
      ]]
    ) {
      compare(
        `attention n=${n} t=${t} d=${d} heads=${heads}`,
        (qkv) => wasmAttention(qkv!, heads!),
        (qkv) => attentionComposite(qkv!, heads!),
        [[n!, t!, 3 * d!]],
        TOL,
        2,
      );
    }
  },
});

Deno.test({
  name: "kernels/wasm_attention: a key-padding bias masks the padded keys like the composition",
  ...opts,
  fn() {
    for (const [n, t, d, heads] of [[2, 5, 12, 3], [3, 9, 16, 2], [3, 97, 8, 2]]) {
      // Sample s keeps its first t − 2·s keys (at least one); the bias is a constant mask.
      const mask = Array.from(
        { length: n! * t! },
        (_, i) => (i % t!) < Math.max(1, t! - 2 * Math.floor(i / t!)),
      );
      const bias = () => tf.tensor(mask.map((keep) => (keep ? 0 : -1e9)), [n!, t!]);
      compare(
        `masked attention n=${n} t=${t} d=${d} heads=${heads}`,
        (qkv) => wasmAttention(qkv!, heads!, bias()),
        (qkv) => {
          const dh = d! / heads!;
          const toHeads = (m: tf.Tensor) =>
            m.reshape([n!, t!, heads!, dh]).transpose([0, 2, 1, 3]).reshape([n! * heads!, t!, dh]);
          const [q, k, v] = tf.split(qkv!, 3, -1).map(toHeads);
          const s = tf.mul(tf.matMul(q!, k!, false, true), 1 / Math.sqrt(dh));
          const biased = tf.add(s.reshape([n!, heads!, t!, t!]), bias().reshape([n!, 1, 1, t!]));
          const p = tf.softmax(biased.reshape([n! * heads!, t!, t!]));
          return tf.matMul(p, v!).reshape([n!, heads!, t!, dh]).transpose([0, 2, 1, 3])
            .reshape([n!, t!, d!]);
        },
        [[n!, t!, 3 * d!]],
        TOL,
        2,
      );
    }
  },
});

Deno.test({
  name: "kernels/wasm_gelu: forward and gradient match the erf composition",
  ...opts,
  fn() {
    // Sizes with and without a scalar tail; values in [-6, 6) cover both erf tails.
    for (const shape of [[1], [3], [4], [7, 5], [2, 33, 64]]) {
      compare(
        `gelu [${shape}]`,
        (x) => wasmGelu(x!),
        (x) => tf.mul(tf.mul(x!, 0.5), tf.add(tf.erf(tf.mul(x!, Math.SQRT1_2)), 1)),
        [shape],
        { atol: 2e-6, rtol: 1e-5 },
        6,
      );
    }
    // Far tails (exp(−x²/2) below float32's range is 0: gelu = x or 0, gradient 1 or 0), NaN.
    const far = tf.tensor([-1e4, -100, -14, -13.2, 13.2, 14, 100, 1e4, NaN, 0, -0.5, 0.5]);
    const [y, dy] = tf.tidy(() => [
      wasmGelu(far),
      tf.grad((x: tf.Tensor) => tf.sum(wasmGelu(x)))(far),
    ]);
    const [yv, gv] = [y!.dataSync(), dy!.dataSync()];
    assert.deepEqual(
      [...yv.slice(4, 8)],
      [...far.dataSync().slice(4, 8)],
      "right tail: gelu(x) = x",
    );
    assert.ok([...yv.slice(0, 4)].every((v) => Math.abs(v) < 1e-30), `left tail ${yv.slice(0, 4)}`);
    assert.deepEqual([...gv.slice(0, 8)].map((g) => Math.round(g) + 0), [0, 0, 0, 0, 1, 1, 1, 1]);
    assert.ok(Number.isNaN(yv[8]!) && Number.isNaN(gv[8]!), "NaN in, NaN out");
    tf.dispose([far, y!, dy!]);
  },
});

Deno.test({
  name: "kernels/wasm_*: no tensors leak across repeated gradient steps",
  ...opts,
  fn() {
    const x = tensor([4, 6, 24], 1),
      w = tensor([24, 24], 2),
      g = tensor([8], 3),
      b = tensor([8], 4);
    const step = () =>
      tf.tidy(() =>
        tf.grads((a: tf.Tensor, ww: tf.Tensor, gg: tf.Tensor, bb: tf.Tensor) => {
          const qkv = wasmLinear(a.reshape([24, 24]), ww.transpose(), undefined, false);
          const att = wasmAttention(qkv.reshape([4, 6, 24]), 2);
          return tf.sum(wasmLayerNorm(att, gg, bb, 1e-6));
        })([x, w, g, b])
      );
    tf.dispose(step());
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) tf.dispose(step());
    assert.equal(tf.memory().numTensors, before);
    tf.dispose([x, w, g, b]);
  },
});
