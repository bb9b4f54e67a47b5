/**
 * Fused LayerNorm forward for tfjs-backend-webgpu: one workgroup per row
 * computes the mean, the (two-pass) variance, normalises and applies scale and
 * shift in a single dispatch — `y = (x − μ) · (σ² + ε)^-½ · γ + β` over the
 * last axis, the same formula and order as `tf.moments` + ops — and writes the
 * row's `[mean, rstd]` beside it (an extra output, `kernels/extra_outputs.ts`),
 * which the backward kernels read instead of recomputing.
 *
 * Kernel: `NovalabLayerNorm` (inputs `x, gamma, beta`, attr `eps`; outputs `y`
 * shaped like `x` and the statistics `[rows, 2]`).
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { gridFor, ROW_PRELUDE, rowWorkgroupSize, workgroupSumSnippet } from "./row_reduce.ts";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";

/** Kernel name of the fused forward pass. */
export const LAYER_NORM = "NovalabLayerNorm";

/** One workgroup per row: statistics, then `y` and `[mean, rstd]`. */
export class NovalabLayerNormProgram implements WebGPUProgram {
  /** Inputs (`stats` is written). */
  variableNames = ["x", "gamma", "beta", "stats"];
  /** `[rows, dim]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey: string;
  /** Non-flat layout so that `main()` takes no index. */
  dispatchLayout = { x: [0], y: [1] };
  /** Workgroups (one per row). */
  dispatch: [number, number, number];
  /** Threads per row. */
  workgroupSize: [number, number, number];
  /** Program uniforms. */
  uniforms = "rows : i32, dim : i32, eps : f32,";

  /** Builds the program for `rows × dim`; `limit` is the device's workgroups-per-dimension. */
  constructor(rows: number, dim: number, limit: number) {
    this.outputShape = [rows, dim];
    const size = rowWorkgroupSize(dim);
    this.workgroupSize = [size, 1, 1];
    this.dispatch = gridFor(rows, limit);
    this.shaderKey = `novalabLayerNorm_${size}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const size = this.workgroupSize[0];
    return `${workgroupSumSnippet(size)}
${readWriteLine(["stats"])}
fn main() {
  ${ROW_PRELUDE}
  var s = 0.0;
  if (valid) { for (var j = t; j < D; j += ${size}) { s += x[base + j]; } }
  let mean = nlReduce(vec2<f32>(s, 0.0)).x / f32(D);
  var q = 0.0;
  if (valid) { for (var j = t; j < D; j += ${size}) { let d = x[base + j] - mean; q += d * d; } }
  let rstd = inverseSqrt(nlReduce(vec2<f32>(q, 0.0)).x / f32(D) + uniforms.eps);
  if (valid) {
    for (var j = t; j < D; j += ${size}) {
      result[base + j] = (x[base + j] - mean) * rstd * gamma[j] + beta[j];
    }
    if (t == 0) { stats[row * 2] = mean; stats[row * 2 + 1] = rstd; }
  }
}`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function rowsOf(x: TensorInfo, where: string): { rows: number; dim: number } {
  const dim = x.shape.at(-1);
  if (x.dtype !== "float32" || dim === undefined || dim === 0) {
    throw new Error(
      `kernels/${where}: x must be a float32 tensor with a non-empty last axis, ` +
        `got ${x.dtype} [${x.shape.join(", ")}]`,
    );
  }
  return { rows: x.shape.reduce((p, d) => p * d, 1) / dim, dim };
}

function runLayerNorm(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const { x, gamma, beta } = args.inputs;
  const { rows, dim } = rowsOf(x!, "layernorm_forward.ts");
  const eps = Number((args.attrs ?? {}).eps);
  if (!(eps >= 0)) {
    throw new Error(`kernels/layernorm_forward.ts: eps must be a number ≥ 0, got ${eps}`);
  }
  for (const [name, p] of [["gamma", gamma], ["beta", beta]] as const) {
    const size = p ? p.shape.reduce((a, d) => a * d, 1) : -1;
    if (size !== dim) {
      throw new Error(
        `kernels/layernorm_forward.ts: ${name} must have ${dim} entries (the last axis of x), ` +
          `got [${p?.shape.join(", ") ?? "missing"}]`,
      );
    }
  }
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const [y, stats] = runWithExtraOutputs(
    backend,
    new NovalabLayerNormProgram(rows, dim, limit),
    [{ ...x!, shape: [rows, dim] }, { ...gamma!, shape: [dim] }, { ...beta!, shape: [dim] }],
    [[rows, 2]],
    [
      { type: "int32", data: [rows] },
      { type: "int32", data: [dim] },
      { type: "float32", data: [eps] },
    ],
  );
  return [{ ...y!, shape: [...x!.shape] }, stats!];
}

/** Kernel config of the forward pass (webgpu). */
export function layerNormForwardKernelConfigs(): KernelConfig[] {
  return [{
    kernelName: LAYER_NORM,
    backendName: "webgpu",
    kernelFunc: runLayerNorm as unknown as KernelFunc,
  }];
}
