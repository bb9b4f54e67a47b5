/**
 * Square matmul throughput on the active backend (`deno task bench matmul`):
 * `reps` back-to-back `tf.matMul` calls of `n × n` operands per transpose
 * variant, timed until a 1-element readback of the last product (so the
 * readback of the whole result is not timed), with tfjs's stock WebGPU kernels,
 * with novalab's, and — where the device has `shader-f16` — with novalab's
 * f16 operand staging (`precision: f16`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { installNovalabKernels, restoreStockKernels } from "../kernels/install.ts";
import { setMatMulPrecision } from "../kernels/precision.ts";
import { hasShaderF16 } from "../core/webgpu_device.ts";

/** One measured variant. */
export interface MatMulBenchRow {
  /** `A·B`, `A·Bᵀ`, `Aᵀ·B` or `Aᵀ·Bᵀ`. */
  variant: string;
  /** `stock` or `novalab` kernels, or novalab's with f16 operands. */
  kernels: "stock" | "novalab" | "novalab-f16";
  /** Milliseconds per product. */
  ms: number;
  /** 2n³ / time. */
  tflops: number;
}

const VARIANTS = [[false, false], [false, true], [true, false], [true, true]] as const;

async function timeProducts(n: number, reps: number, tA: boolean, tB: boolean): Promise<number> {
  const a = tf.randomNormal([n, n], 0, 1, "float32", 1);
  const b = tf.randomNormal([n, n], 0, 1, "float32", 2);
  const run = async (count: number) => {
    let last: tf.Tensor | undefined;
    for (let i = 0; i < count; i++) {
      last?.dispose();
      last = tf.matMul(a, b, tA, tB);
    }
    const probe = tf.slice(last!, [0, 0], [1, 1]);
    await probe.data();
    tf.dispose([probe, last!]);
  };
  await run(2); // compile and warm up
  const t0 = performance.now();
  await run(reps);
  const ms = (performance.now() - t0) / reps;
  tf.dispose([a, b]);
  return ms;
}

/** Measures every transpose variant with stock and novalab kernels (webgpu must be active). */
export async function benchMatMul(n: number, reps: number): Promise<MatMulBenchRow[]> {
  if (tf.getBackend() !== "webgpu") {
    throw new Error(`bench/matmul.ts: needs the webgpu backend, active is ${tf.getBackend()}`);
  }
  const rows: MatMulBenchRow[] = [];
  const kinds: MatMulBenchRow["kernels"][] = ["stock", "novalab"];
  if (hasShaderF16(tf.backend() as WebGPUBackend)) kinds.push("novalab-f16");
  try {
    for (const kernels of kinds) {
      if (kernels === "stock") restoreStockKernels();
      else installNovalabKernels();
      setMatMulPrecision(kernels === "novalab-f16" ? "f16" : "fp32", kernels !== "stock");
      for (const [tA, tB] of VARIANTS) {
        const ms = await timeProducts(n, reps, tA, tB);
        const variant = `A${tA ? "ᵀ" : ""}·B${tB ? "ᵀ" : ""}`;
        rows.push({ variant, kernels, ms, tflops: (2 * n ** 3) / ms / 1e9 });
      }
    }
  } finally {
    setMatMulPrecision("fp32", true);
  }
  return rows;
}
