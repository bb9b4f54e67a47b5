/**
 * `Sum` and `Mean` over leading axes on tfjs's WASM backend as one SIMD
 * column-sum pass. tfjs-backend-wasm reduces only over the innermost axes, so
 * for `axis: 0` it first transposes the whole input: 0.17 ms for a
 * `[256, 256]` sum, 0.56 ms for `[256, 17, 64]` over its first two axes,
 * against 0.03 and 0.07 ms for a column sum on this project's machine. Those
 * are the reductions of a training step: batch-norm statistics over the
 * batch, and every gradient of a broadcast (a bias, a mean, a scale) summed
 * back over the batch axes — 26 calls per NOVA step.
 *
 * The replacement kernels handle float32 inputs reduced over a leading prefix
 * of their axes (not all of them) with `grad_prologue`
 * (`kernels/wasm_rows.ts`, float32 sums in blocks of 256 rows); everything
 * else goes to the stock kernel. Installed with novalab's WASM kernels
 * ({@linkcode installLeadingSums}), removed with them
 * ({@linkcode restoreStockSums}).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { wasmKernels } from "./wasm_runtime.ts";

const stock = new Map<string, tf.KernelConfig>();
const ours = new Map<string, tf.KernelConfig>();

/** Rows and columns when `axes` is a leading prefix of `shape` (not every axis), else undefined. */
export function leadingReduction(
  shape: readonly number[],
  axis: number | number[] | null | undefined,
): { rows: number; cols: number; kept: number[] } | undefined {
  if (axis == null) return undefined; // tfjs passes `null` for "every axis"
  const axes = [axis].flat().map((a) => (a < 0 ? a + shape.length : a)).sort((a, b) => a - b);
  const a = axes.length;
  if (a === 0 || a >= shape.length || axes.some((v, i) => v !== i)) return undefined;
  const rows = shape.slice(0, a).reduce((p, d) => p * d, 1);
  const kept = shape.slice(a);
  return { rows, cols: kept.reduce((p, d) => p * d, 1), kept };
}

function reduceKernel(name: "Sum" | "Mean", original: tf.KernelConfig): tf.KernelConfig {
  return {
    ...original, // the stock setupFunc binds the WASM functions the fallback calls
    kernelName: name,
    backendName: "wasm",
    kernelFunc: (args) => {
      const x = args.inputs.x as tf.TensorInfo;
      const attrs = args.attrs as { axis?: number | number[]; keepDims?: boolean };
      const plan = x.dtype === "float32" ? leadingReduction(x.shape, attrs.axis) : undefined;
      if (!plan || plan.rows === 0 || plan.cols === 0) return original.kernelFunc(args);
      const k = wasmKernels(args.backend as BackendWasm);
      const reduced = x.shape.length - plan.kept.length;
      const shape = attrs.keepDims ? [...Array(reduced).fill(1), ...plan.kept] : plan.kept;
      const out = k.backend.makeOutput(shape, "float32");
      k.fns.grad_prologue!(
        k.address(x),
        0,
        0,
        plan.rows,
        plan.cols,
        k.address(out),
        k.scratch(plan.cols),
      );
      if (name === "Mean") {
        const v = k.view(out) as Float32Array;
        for (let i = 0; i < plan.cols; i++) v[i] = v[i]! / plan.rows;
      }
      return out;
    },
  };
}

/**
 * Replaces the wasm backend's `Sum` and `Mean` by the leading-axes versions
 * (idempotent; a no-op before tfjs-backend-wasm registered its kernels).
 */
export function installLeadingSums(): void {
  for (const name of ["Sum", "Mean"] as const) {
    if (stock.has(name)) continue;
    const original = tf.getKernel(name, "wasm");
    if (!original) continue;
    stock.set(name, original);
    tf.unregisterKernel(name, "wasm");
    const replacement = reduceKernel(name, original);
    ours.set(name, replacement);
    tf.registerKernel(replacement);
  }
}

/** Whether the wasm backend's `Sum` and `Mean` are the leading-axes versions now. */
export function leadingSumsInstalled(): boolean {
  return (["Sum", "Mean"] as const).every((name) =>
    ours.has(name) && tf.getKernel(name, "wasm") === ours.get(name)
  );
}

/** Puts tfjs-backend-wasm's own `Sum` and `Mean` back (A/B runs, kernels off). */
export function restoreStockSums(): void {
  for (const [name, original] of stock) {
    tf.unregisterKernel(name, "wasm");
    tf.registerKernel(original);
  }
  stock.clear();
  ours.clear();
}
