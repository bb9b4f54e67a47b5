/**
 * Fused LayerNorm forward for tfjs-backend-webgpu: one workgroup per row
 * computes the mean, the (two-pass) variance, normalises and applies scale and
 * shift in a single dispatch — `y = (x − μ) · (σ² + ε)^-½ · γ + β` over the
 * last axis, the same formula and order as `tf.moments` + ops.
 *
 * The same row kernel in `stats` mode writes the per-row `[mean, rstd]` pairs
 * the backward kernels read. A tfjs WebGPU program has exactly one output
 * binding, so the forward pass cannot emit `y` and the statistics from one
 * dispatch; the statistics are recomputed at the start of the backward pass
 * instead (one dispatch there, none in inference).
 *
 * Kernels: `NovalabLayerNorm` (inputs `x, gamma, beta`, attr `eps`, output like
 * `x`) and `NovalabLayerNormStats` (input `x`, attr `eps`, output `[rows, 2]`).
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { gridFor, ROW_PRELUDE, rowWorkgroupSize, workgroupSumSnippet } from "./row_reduce.ts";

/** Kernel name of the fused forward pass. */
export const LAYER_NORM = "NovalabLayerNorm";
/** Kernel name of the per-row statistics `[mean, rstd]`. */
export const LAYER_NORM_STATS = "NovalabLayerNormStats";

/** What the row kernel writes. */
export type LayerNormRowMode = "normalize" | "stats";

/** One workgroup per row: statistics, then either `y` or `[mean, rstd]`. */
export class NovalabLayerNormProgram implements WebGPUProgram {
  /** Inputs. */
  variableNames: string[];
  /** `[rows, dim]` or `[rows, 2]`. */
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
  constructor(readonly mode: LayerNormRowMode, rows: number, dim: number, limit: number) {
    this.variableNames = mode === "normalize" ? ["x", "gamma", "beta"] : ["x"];
    this.outputShape = mode === "normalize" ? [rows, dim] : [rows, 2];
    const size = rowWorkgroupSize(dim);
    this.workgroupSize = [size, 1, 1];
    this.dispatch = gridFor(rows, limit);
    this.shaderKey = `novalabLayerNorm_${mode}_${size}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const size = this.workgroupSize[0];
    const write = this.mode === "normalize"
      ? `if (valid) {
    for (var j = t; j < D; j += ${size}) {
      result[base + j] = (x[base + j] - mean) * rstd * gamma[j] + beta[j];
    }
  }`
      : `if (valid && t == 0) { result[row * 2] = mean; result[row * 2 + 1] = rstd; }`;
    return `${workgroupSumSnippet(size)}
fn main() {
  ${ROW_PRELUDE}
  var s = 0.0;
  if (valid) { for (var j = t; j < D; j += ${size}) { s += x[base + j]; } }
  let mean = nlReduce(vec2<f32>(s, 0.0)).x / f32(D);
  var q = 0.0;
  if (valid) { for (var j = t; j < D; j += ${size}) { let d = x[base + j] - mean; q += d * d; } }
  let rstd = inverseSqrt(nlReduce(vec2<f32>(q, 0.0)).x / f32(D) + uniforms.eps);
  ${write}
}`;
  }
}

/** The row kernel in `stats` mode (its own class, so dispatch counts tell the two apart). */
export class NovalabLayerNormStatsProgram extends NovalabLayerNormProgram {
  /** Builds the statistics program for `rows × dim`. */
  constructor(rows: number, dim: number, limit: number) {
    super("stats", rows, dim, limit);
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

function runRows(args: Args, mode: LayerNormRowMode): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const { x, gamma, beta } = args.inputs;
  const { rows, dim } = rowsOf(x!, "layernorm_forward.ts");
  const eps = Number((args.attrs ?? {}).eps);
  if (!(eps >= 0)) {
    throw new Error(`kernels/layernorm_forward.ts: eps must be a number ≥ 0, got ${eps}`);
  }
  if (mode === "normalize") {
    for (const [name, p] of [["gamma", gamma], ["beta", beta]] as const) {
      const size = p ? p.shape.reduce((a, d) => a * d, 1) : -1;
      if (size !== dim) {
        throw new Error(
          `kernels/layernorm_forward.ts: ${name} must have ${dim} entries (the last axis of x), ` +
            `got [${p?.shape.join(", ") ?? "missing"}]`,
        );
      }
    }
  }
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const program = mode === "normalize"
    ? new NovalabLayerNormProgram(mode, rows, dim, limit)
    : new NovalabLayerNormStatsProgram(rows, dim, limit);
  const x2 = { ...x!, shape: [rows, dim] };
  const inputs = mode === "normalize"
    ? [x2, { ...gamma!, shape: [dim] }, { ...beta!, shape: [dim] }]
    : [x2];
  const out = backend.runWebGPUProgram(program, inputs, "float32", [
    { type: "int32", data: [rows] },
    { type: "int32", data: [dim] },
    { type: "float32", data: [eps] },
  ]);
  return mode === "normalize" ? { ...out, shape: [...x!.shape] } : out;
}

/** Kernel configs of the forward pass and the statistics (webgpu). */
export function layerNormForwardKernelConfigs(): KernelConfig[] {
  return [
    {
      kernelName: LAYER_NORM,
      backendName: "webgpu",
      kernelFunc: ((args: Args) => runRows(args, "normalize")) as unknown as KernelFunc,
    },
    {
      kernelName: LAYER_NORM_STATS,
      backendName: "webgpu",
      kernelFunc: ((args: Args) => runRows(args, "stats")) as unknown as KernelFunc,
    },
  ];
}
