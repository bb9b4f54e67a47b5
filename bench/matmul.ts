/**
 * Matmul throughput on the active backend (`deno task bench matmul`): `reps`
 * back-to-back `tf.matMul` calls per case, timed until a 1-element readback of
 * the last product (so the readback of the whole result is not timed).
 *
 * - Square `n × n` operands, every transpose variant, with tfjs's stock WebGPU
 *   kernels, with novalab's, and — where the device has `shader-f16` — with
 *   novalab's f16 operand staging (`precision: f16`).
 * - With `--tile-forms`: every form of novalab's 128 × 128 tile
 *   (`kernels/matmul_tile_form.ts`) on the same squares, to pick the default.
 * - The weight gradients `Xᵀ·dY` of a ViT's linear layers at a given number
 *   of tokens (deep, narrow products): stock, novalab cut along k (split-K),
 *   and novalab with splitting off (`NOVALAB_MATMUL_SPLIT_K=0`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { installNovalabKernels, restoreStockKernels } from "../kernels/install.ts";
import { setMatMulPrecision } from "../kernels/precision.ts";
import { hasShaderF16 } from "../core/webgpu_device.ts";
import { MATMUL_TILE_FORMS, setMatMulTileForm } from "../kernels/matmul_tile_form.ts";

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

async function timeProducts(
  n: number,
  reps: number,
  tA: boolean,
  tB: boolean,
  shapes: [number[], number[]] = [[n, n], [n, n]],
): Promise<number> {
  const a = tf.randomNormal(shapes[0], 0, 1, "float32", 1);
  const b = tf.randomNormal(shapes[1], 0, 1, "float32", 2);
  const run = async (count: number) => {
    let last: tf.Tensor | undefined;
    for (let i = 0; i < count; i++) {
      last?.dispose();
      last = tf.matMul(a, b, tA, tB);
    }
    const probe = tf.slice(last!, [0, 0], [1, 1]); // a 1-element readback
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

/** One tile form on one transpose variant. */
export interface TileFormRow {
  /** Tile form name (`t128`, `t128ip`, …). */
  form: string;
  /** `A·B`, `A·Bᵀ`, `Aᵀ·B` or `Aᵀ·Bᵀ`. */
  variant: string;
  /** Milliseconds per product. */
  ms: number;
  /** 2n³ / time. */
  tflops: number;
}

/**
 * Times every form of novalab's large tile on `n × n` products, every
 * transpose variant (fp32; webgpu with novalab's kernels must be active).
 */
export async function benchTileForms(n: number, reps: number): Promise<TileFormRow[]> {
  installNovalabKernels();
  const rows: TileFormRow[] = [];
  try {
    for (const form of MATMUL_TILE_FORMS) {
      setMatMulTileForm(form.name);
      for (const [tA, tB] of VARIANTS) {
        const ms = await timeProducts(n, reps, tA, tB);
        const variant = `A${tA ? "ᵀ" : ""}·B${tB ? "ᵀ" : ""}`;
        rows.push({ form: form.name, variant, ms, tflops: (2 * n ** 3) / ms / 1e9 });
      }
    }
  } finally {
    setMatMulTileForm(undefined);
  }
  return rows;
}

/** One weight-gradient product `Xᵀ·dY` measured three ways. */
export interface WeightGradRow {
  /** Layer name and `in × out` over `tokens`. */
  shape: string;
  /** Milliseconds per product: stock kernels, novalab split-K, novalab whole-k. */
  ms: { stock: number; split: number; whole: number };
  /** `2·tokens·in·out / time` for each. */
  tflops: { stock: number; split: number; whole: number };
}

/** Environment variable of the split-K switch (`kernels/matmul_plan.ts`). */
const SPLIT_K_ENV = "NOVALAB_MATMUL_SPLIT_K";

/**
 * The weight gradients `Xᵀ·dY` (`[tokens, in]ᵀ·[tokens, out]`) of a ViT block
 * of width `dim` (qkv, proj, fc1, fc2) over `tokens` rows, e.g. 12,608 for a
 * 224 px ViT-x/16 at batch 64. webgpu must be active.
 */
export async function benchWeightGrads(
  dim: number,
  tokens: number,
  reps: number,
): Promise<WeightGradRow[]> {
  const layers: [string, number, number][] = [
    ["qkv", dim, 3 * dim],
    ["proj", dim, dim],
    ["fc1", dim, 4 * dim],
    ["fc2", 4 * dim, dim],
  ];
  const saved = Deno.env.get(SPLIT_K_ENV);
  const rows: WeightGradRow[] = [];
  try {
    for (const [name, inDim, outDim] of layers) {
      const shapes: [number[], number[]] = [[tokens, inDim], [tokens, outDim]];
      const time = () => timeProducts(0, reps, true, false, shapes);
      restoreStockKernels();
      const stock = await time();
      installNovalabKernels();
      if (saved === undefined) Deno.env.delete(SPLIT_K_ENV);
      else Deno.env.set(SPLIT_K_ENV, saved);
      const split = await time();
      Deno.env.set(SPLIT_K_ENV, "0");
      const whole = await time();
      const flops = 2 * tokens * inDim * outDim;
      const rate = (ms: number) => flops / ms / 1e9;
      rows.push({
        shape: `${name} ${inDim}×${outDim} over ${tokens}`,
        ms: { stock, split, whole },
        tflops: { stock: rate(stock), split: rate(split), whole: rate(whole) },
      });
    }
  } finally {
    installNovalabKernels();
    if (saved === undefined) Deno.env.delete(SPLIT_K_ENV);
    else Deno.env.set(SPLIT_K_ENV, saved);
  }
  return rows;
}

/** What `deno task bench matmul` measures. */
export interface MatMulBenchOptions {
  /** Side of the square products. */
  size: number;
  /** Timed products per case. */
  reps: number;
  /** ViT widths whose weight gradients to time (empty: none). */
  gradDims: number[];
  /** Rows of the weight gradients (batch × tokens per image). */
  tokens: number;
  /** Also time every form of the 128 × 128 tile. */
  tileForms: boolean;
}

/** Runs and prints `deno task bench matmul` (webgpu must be active). */
export async function printMatMulBench(o: MatMulBenchOptions): Promise<void> {
  const rate = (ms: number, tflops: number) =>
    `${ms.toFixed(2)} ms  ${tflops.toPrecision(3)} TFLOP/s`;
  for (const r of await benchMatMul(o.size, o.reps)) {
    console.log(`  ${r.variant.padEnd(6)} ${r.kernels.padEnd(11)} ${rate(r.ms, r.tflops)}`);
  }
  if (o.tileForms) {
    if (o.size < 2048) {
      console.log("  (tile forms: below ~2048² the planner may pick a smaller tile)");
    }
    for (const r of await benchTileForms(o.size, o.reps)) {
      console.log(`  tile ${r.form.padEnd(10)} ${r.variant.padEnd(6)} ${rate(r.ms, r.tflops)}`);
    }
  }
  for (const dim of o.gradDims) {
    console.log(`weight gradients Xᵀ·dY, width ${dim}: stock | novalab split-K | whole k`);
    for (const r of await benchWeightGrads(dim, o.tokens, o.reps)) {
      const f = (k: "stock" | "split" | "whole") =>
        `${r.ms[k].toFixed(2)} ms ${r.tflops[k].toPrecision(3)} TFLOP/s`;
      console.log(`  ${r.shape.padEnd(28)} ${f("stock")} | ${f("split")} | ${f("whole")}`);
    }
  }
}
