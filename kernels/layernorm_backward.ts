/**
 * Fused LayerNorm backward for tfjs-backend-webgpu, from the per-row `[mean,
 * rstd]` the forward kernel wrote (x̂ = (x − μ)·rstd, g = dy·γ):
 *
 * - `NovalabLayerNormGradX` — one workgroup per row, one dispatch:
 *   `dx = rstd · (g − mean(g) − x̂ · mean(g·x̂)) [+ dSkip]`; the optional
 *   `dSkip` is the gradient x gets along a skip connection
 *   (`kernels/layernorm.ts` `layerNormWithSkip`), summed here instead of in a
 *   separate add.
 * - `NovalabLayerNormGradParamsPartial` — column sums of `dy·x̂` and `dy` over
 *   chunks of rows (workgroups tile columns × row chunks, no barriers), output
 *   `[chunks, 2, dim]`.
 * - `NovalabLayerNormColumnSum` — sums the chunks: dγ and, as an extra output
 *   of the same dispatch, dβ.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { gridFor, ROW_PRELUDE, rowWorkgroupSize, workgroupSumSnippet } from "./row_reduce.ts";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";
import { FlatProgram } from "./program_base.ts";
import { runLayerNormBackward } from "./layernorm_backward_fused.ts";

/** Kernel name of dx. */
export const LAYER_NORM_GRAD_X = "NovalabLayerNormGradX";
/** Kernel name of the chunked column sums of `dy·x̂` and `dy`. */
export const LAYER_NORM_GRAD_PARAMS_PARTIAL = "NovalabLayerNormGradParamsPartial";
/** Kernel name of the final column sums (dγ, then dβ). */
export const LAYER_NORM_COLUMN_SUM = "NovalabLayerNormColumnSum";
/**
 * Kernel name of the whole backward pass: `[dx, dγ, dβ]` from two dispatches
 * where `kernels/layernorm_backward_fused.ts` covers the width, else four.
 */
export const LAYER_NORM_BACKWARD = "NovalabLayerNormBackward";

const COLUMNS_PER_GROUP = 64;

/** Rows per chunk of the partial column sums (at most ~512 chunks, at least 32 rows each). */
export function rowsPerChunk(rows: number): number {
  return Math.max(32, Math.ceil(rows / 512));
}

/** dx (plus `dSkip` when given), one workgroup per row. */
export class NovalabLayerNormGradXProgram implements WebGPUProgram {
  /** Inputs. */
  variableNames = ["x", "gamma", "dy", "stats"];
  /** `[rows, dim]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey: string;
  /** Non-flat layout so that `main()` takes no index. */
  dispatchLayout = { x: [0], y: [1] };
  /** One workgroup per row. */
  dispatch: [number, number, number];
  /** Threads per row. */
  workgroupSize: [number, number, number];
  /** Program uniforms. */
  uniforms = "rows : i32, dim : i32,";

  /** Builds the program for `rows × dim`; `skip` adds a `dSkip` input `[rows, dim]`. */
  constructor(rows: number, dim: number, limit: number, readonly skip = false) {
    this.outputShape = [rows, dim];
    const size = rowWorkgroupSize(dim);
    this.workgroupSize = [size, 1, 1];
    this.dispatch = gridFor(rows, limit);
    this.shaderKey = `novalabLayerNormGradX_${size}${skip ? "_skip" : ""}`;
    if (skip) this.variableNames = [...this.variableNames, "dSkip"];
  }

  /** WGSL user code. */
  getUserCode(): string {
    const size = this.workgroupSize[0];
    return `${workgroupSumSnippet(size)}
fn main() {
  ${ROW_PRELUDE}
  var mean = 0.0; var rstd = 0.0;
  if (valid) { mean = stats[row * 2]; rstd = stats[row * 2 + 1]; }
  var acc = vec2<f32>(0.0);
  if (valid) {
    for (var j = t; j < D; j += ${size}) {
      let g = dy[base + j] * gamma[j];
      let xh = (x[base + j] - mean) * rstd;
      acc += vec2<f32>(g, g * xh);
    }
  }
  let m = nlReduce(acc) / f32(D);
  if (valid) {
    for (var j = t; j < D; j += ${size}) {
      let g = dy[base + j] * gamma[j];
      let xh = (x[base + j] - mean) * rstd;
      result[base + j] = rstd * (g - m.x - xh * m.y)${this.skip ? " + dSkip[base + j]" : ""};
    }
  }
}`;
  }
}

/** Column sums of `dy·x̂` and `dy` over chunks of rows → `[chunks, 2, dim]`. */
export class NovalabLayerNormGradParamsPartialProgram implements WebGPUProgram {
  /** Inputs. */
  variableNames = ["x", "dy", "stats"];
  /** `[chunks, 2, dim]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey = "novalabLayerNormGradParamsPartial";
  /** Columns on x, chunks on y. */
  dispatchLayout = { x: [2], y: [0] };
  /** Workgroups. */
  dispatch: [number, number, number];
  /** Threads (one per column). */
  workgroupSize: [number, number, number] = [COLUMNS_PER_GROUP, 1, 1];
  /** Program uniforms. */
  uniforms = "rows : i32, dim : i32, chunk : i32,";

  /** Builds the program for `rows × dim` in chunks of `chunk` rows. */
  constructor(rows: number, dim: number, chunk: number) {
    const chunks = Math.ceil(rows / chunk);
    this.outputShape = [chunks, 2, dim];
    this.dispatch = [Math.ceil(dim / COLUMNS_PER_GROUP), chunks, 1];
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `
fn main() {
  let D = uniforms.dim;
  let j = i32(workgroupId.x) * ${COLUMNS_PER_GROUP} + i32(localId.x);
  let c = i32(workgroupId.y);
  let r0 = c * uniforms.chunk;
  let r1 = min(uniforms.rows, r0 + uniforms.chunk);
  if (j < D) {
    var sg = 0.0; var sb = 0.0;
    for (var r = r0; r < r1; r++) {
      let g = dy[r * D + j];
      sg += g * (x[r * D + j] - stats[r * 2]) * stats[r * 2 + 1];
      sb += g;
    }
    result[(c * 2) * D + j] = sg;
    result[(c * 2 + 1) * D + j] = sb;
  }
}`;
  }
}

/**
 * Sums `partial[:, 0, :]` and `partial[:, 1, :]` over chunks → dγ (result) and
 * dβ (`dBeta`); built with the number of columns (`main(index)` gets one).
 */
export class NovalabLayerNormColumnSumProgram extends FlatProgram {
  /** Inputs. */
  variableNames = ["partial", "dBeta"];
  /** Cache key. */
  shaderKey = "novalabLayerNormColumnSum";
  /** Program uniforms. */
  uniforms = "chunks : i32, dim : i32,";

  /** WGSL user code. */
  getUserCode(): string {
    return `
${readWriteLine(["dBeta"])}
fn main(index: i32) {
  let D = uniforms.dim;
  if (index < D) {
    var g = 0.0;
    var b = 0.0;
    for (var c = 0; c < uniforms.chunks; c++) {
      g += partial[c * 2 * D + index];
      b += partial[(c * 2 + 1) * D + index];
    }
    result[index] = g;
    dBeta[index] = b;
  }
}`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function geometry(x: TensorInfo): { rows: number; dim: number } {
  const dim = x.shape.at(-1) ?? 0;
  if (x.dtype !== "float32" || dim === 0) {
    throw new Error(
      `kernels/layernorm_backward.ts: x must be a float32 tensor with a non-empty last axis, ` +
        `got ${x.dtype} [${x.shape.join(", ")}]`,
    );
  }
  return { rows: x.shape.reduce((p, d) => p * d, 1) / dim, dim };
}

const int = (v: number) => ({ type: "int32" as const, data: [v] });

function gradX(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const { x, gamma, dy, stats, dSkip } = args.inputs;
  const { rows, dim } = geometry(x!);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const m = (t: TensorInfo, shape: number[]) => ({ ...t, shape });
  const inputs = [m(x!, [rows, dim]), m(gamma!, [dim]), m(dy!, [rows, dim]), m(stats!, [rows, 2])];
  if (dSkip) {
    if (dSkip.dtype !== "float32" || !tf.util.arraysEqual(dSkip.shape, x!.shape)) {
      throw new Error(
        `kernels/layernorm_backward.ts: dSkip must be float32 [${x!.shape}], got ` +
          `${dSkip.dtype} [${dSkip.shape}]`,
      );
    }
    inputs.push(m(dSkip, [rows, dim]));
  }
  const out = backend.runWebGPUProgram(
    new NovalabLayerNormGradXProgram(rows, dim, limit, dSkip !== undefined),
    inputs,
    "float32",
    [int(rows), int(dim)],
  );
  return { ...out, shape: [...x!.shape] };
}

function gradParamsPartial(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const { x, dy, stats } = args.inputs;
  const { rows, dim } = geometry(x!);
  const chunk = rowsPerChunk(rows);
  const m = (t: TensorInfo, shape: number[]) => ({ ...t, shape });
  return backend.runWebGPUProgram(
    new NovalabLayerNormGradParamsPartialProgram(rows, dim, chunk),
    [m(x!, [rows, dim]), m(dy!, [rows, dim]), m(stats!, [rows, 2])],
    "float32",
    [int(rows), int(dim), int(chunk)],
  );
}

function columnSum(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const partial = args.inputs.partial!;
  const [chunks, , dim] = partial.shape as [number, number, number];
  return runWithExtraOutputs(
    backend,
    new NovalabLayerNormColumnSumProgram(dim),
    [partial],
    [[dim]],
    [int(chunks), int(dim)],
  );
}

function backward(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const { x, gamma, dy, stats, dSkip } = args.inputs;
  const { rows, dim } = geometry(x!);
  const fused = runLayerNormBackward(
    backend,
    { x: x!, gamma: gamma!, dy: dy!, stats: stats!, ...(dSkip ? { dSkip } : {}) },
    rows,
    dim,
  );
  const [dx, partial] = fused ?? [gradX(args), gradParamsPartial(args)];
  try {
    const [dGamma, dBeta] = columnSum({ inputs: { partial }, backend });
    return [dx, dGamma!, dBeta!];
  } finally {
    backend.disposeData(partial.dataId);
  }
}

/** Kernel configs of the backward pass (webgpu). */
export function layerNormBackwardKernelConfigs(): KernelConfig[] {
  const config = (kernelName: string, f: (a: Args) => TensorInfo | TensorInfo[]): KernelConfig => ({
    kernelName,
    backendName: "webgpu",
    kernelFunc: f as unknown as KernelFunc,
  });
  return [
    config(LAYER_NORM_GRAD_X, gradX),
    config(LAYER_NORM_GRAD_PARAMS_PARTIAL, gradParamsPartial),
    config(LAYER_NORM_COLUMN_SUM, columnSum),
    config(LAYER_NORM_BACKWARD, backward),
  ];
}
