/**
 * `Sum` and `Mean` over a contiguous block of axes that is not the innermost,
 * without tfjs's transpose. tfjs-backend-webgpu reduces only innermost axes, so
 * a sum over the batch axis (the gradient of every broadcast add: position
 * embeddings, CLS token, biases outside the fused linear layer) first writes a
 * transposed copy of the whole tensor and then reduces it — two dispatches and
 * a full extra buffer. Here the input is read in place as
 * `[outer, rows, cols]` (rows = the reduced block) and each thread sums one
 * column of one chunk of rows; adjacent threads read adjacent columns, so the
 * loads coalesce. Where the columns alone give too few threads (few wide
 * columns, many rows) the rows are split into chunks whose partial sums a
 * second pass adds up.
 *
 * Every other reduction (innermost axes, all axes, non-contiguous axes, int
 * inputs) goes to tfjs's stock kernel unchanged.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { FlatProgram } from "./program_base.ts";
/** Threads a pass aims for before it splits rows into chunks. */
const TARGET_THREADS = 65536;
/**
 * Fewest rows a chunk sums: a thread's loop over a few hundred independent
 * loads costs less than the extra dispatch of a second pass.
 */
const MIN_CHUNK = 256;

/** One pass: `[outer, rows, cols]` → `[outer, ceil(rows / chunk), cols]` partial sums, times `scale`. */
export class NovalabColumnSumProgram extends FlatProgram {
  /** Input. */
  variableNames = ["x"];
  /** Cache key. */
  shaderKey = "novalabColumnSum";
  /** Program uniforms. */
  uniforms = "units : i32, rows : i32, cols : i32, chunk : i32, chunks : i32, scale : f32,";

  /** WGSL user code. */
  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index >= uniforms.units) { return; }
  let cols = uniforms.cols;
  let perOuter = uniforms.chunks * cols;
  let o = index / perOuter;
  let rest = index - o * perOuter;
  let c = rest / cols;
  let j = rest - c * cols;
  let r0 = c * uniforms.chunk;
  let r1 = min(uniforms.rows, r0 + uniforms.chunk);
  let base = o * uniforms.rows * cols + j;
  var s = 0.0;
  for (var r = r0; r < r1; r++) { s += x[base + r * cols]; }
  result[index] = s * uniforms.scale;
}`;
  }
}

/** How one reduction reads its input: `[outer, rows, cols]` with the rows reduced. */
export interface ColumnSumView {
  /** Product of the axes before the reduced block. */
  outer: number;
  /** Product of the reduced axes. */
  rows: number;
  /** Product of the axes after the reduced block (> 1). */
  cols: number;
}

/**
 * The `[outer, rows, cols]` view of reducing `axes` of `shape` when novalab's
 * column sum applies (the axes are one contiguous block followed by at least
 * one axis of size > 1, nothing empty); `null` sends it to the stock kernel.
 */
export function columnSumView(
  shape: readonly number[],
  axes: readonly number[],
): ColumnSumView | null {
  if (axes.length === 0 || shape.includes(0)) return null;
  const sorted = [...new Set(axes)].sort((a, b) => a - b);
  const first = sorted[0]!, last = sorted.at(-1)!;
  if (last - first + 1 !== sorted.length) return null;
  const product = (from: number, to: number) => shape.slice(from, to).reduce((p, d) => p * d, 1);
  const cols = product(last + 1, shape.length);
  if (cols <= 1) return null;
  return { outer: product(0, first), rows: product(first, last + 1), cols };
}

/** Rows per chunk of a pass over `rows × cols` per outer index: all of them when the columns give enough threads. */
export function columnSumChunk(outer: number, rows: number, cols: number): number {
  const chunks = Math.floor(TARGET_THREADS / (outer * cols));
  if (chunks <= 1 || rows <= 2 * MIN_CHUNK) return rows;
  return Math.max(MIN_CHUNK, Math.ceil(rows / chunks));
}

/**
 * Sums (`mean`: averages) the `rows` of an `[outer, rows, cols]` view of `x`
 * on WebGPU; returns `[outer · cols]` values (the caller gives the shape).
 */
export function runColumnSum(
  backend: WebGPUBackend,
  x: TensorInfo,
  view: ColumnSumView,
  mean: boolean,
): TensorInfo {
  const { outer, cols } = view;
  let rows = view.rows;
  let input = x;
  for (;;) {
    const chunk = columnSumChunk(outer, rows, cols);
    const chunks = Math.ceil(rows / chunk);
    const scale = chunks === 1 && mean ? 1 / view.rows : 1;
    const units = outer * chunks * cols;
    const out = backend.runWebGPUProgram(
      new NovalabColumnSumProgram(units),
      [{ ...input, shape: [outer * rows * cols] }],
      "float32",
      [
        ...[units, rows, cols, chunk, chunks].map((v) => ({ type: "int32", data: [v] })),
        { type: "float32", data: [scale] },
      ],
    );
    if (input !== x) backend.disposeData(input.dataId);
    if (chunks === 1) return out;
    input = out;
    rows = chunks;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function reduceKernel(stock: KernelFunc, mean: boolean): KernelFunc {
  return (args: Args) => {
    const x = args.inputs["x"]!;
    const { axis, keepDims } = (args.attrs ?? {}) as {
      axis?: number | number[];
      keepDims?: boolean;
    };
    const axes = tf.util.parseAxisParam(axis ?? null as unknown as number[], x.shape);
    const view = x.dtype === "float32" ? columnSumView(x.shape, axes) : null;
    if (!view) return stock(args as Parameters<KernelFunc>[0]);
    const out = runColumnSum(args.backend as WebGPUBackend, x, view, mean);
    const shape = x.shape.flatMap((d, i) => axes.includes(i) ? (keepDims ? [1] : []) : [d]);
    return { ...out, shape };
  };
}

/** `Sum` and `Mean` for the WebGPU backend, falling back to the given stock kernels. */
export function columnSumKernelConfigs(
  stock: { sum: KernelFunc; mean: KernelFunc },
): KernelConfig[] {
  return [
    { kernelName: "Sum", backendName: "webgpu", kernelFunc: reduceKernel(stock.sum, false) },
    { kernelName: "Mean", backendName: "webgpu", kernelFunc: reduceKernel(stock.mean, true) },
  ];
}
