/**
 * L2 normalisation over the last axis, `y = x / √max(Σx², 10⁻²⁴)` (a zero row
 * stays zero), the one definition every loss and model uses. On WebGPU with
 * novalab's kernels it is one row dispatch forward (which keeps each row's
 * `Σx²`) and one backward,
 * `dx = dy/n − [Σx² ≥ 10⁻²⁴]·x·(x·dy)/n³` with `n` the clamped norm — the
 * composition took 5 dispatches forward and about 10 backward per call (CLIP,
 * SigLIP and ITO normalise both towers, ITO's fusion head its output).
 * Elsewhere it is the op composition, values unchanged.
 *
 * Kernels: `NovalabL2Normalize` (input `x`; outputs `y` and `[rows]` sums of
 * squares) and `NovalabL2NormalizeGrad` (inputs `x`, `sumSquares`, `dy`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Tensor } from "../core/tensor.ts";
import { ROW_PRELUDE, rowWorkgroupSize, workgroupSumSnippet } from "./row_reduce.ts";
import { RowProgram } from "./program_base.ts";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";
import { runCustomGradOp } from "./custom_grad.ts";
import { novalabKernelsActive } from "./active.ts";

/** Kernel name of the forward pass. */
export const L2_NORMALIZE = "NovalabL2Normalize";
/** Kernel name of the backward pass. */
export const L2_NORMALIZE_GRAD = "NovalabL2NormalizeGrad";

/** The floor of `Σx²` (the norm's ε = 10⁻¹²). */
const FLOOR = "1e-24";

/** One workgroup per row; `backward` selects the gradient program. */
export class NovalabL2NormalizeProgram extends RowProgram {
  /** Inputs (forward: `sumSquares` is written). */
  variableNames: string[];
  /** Cache key. */
  shaderKey: string;
  /** Program uniforms. */
  uniforms = "rows : i32, dim : i32,";

  /** Builds the program for `rows × dim`; `limit` is the device's workgroups-per-dimension. */
  constructor(rows: number, dim: number, limit: number, readonly backward: boolean) {
    super([rows, dim], rows, rowWorkgroupSize(dim), limit);
    this.variableNames = backward ? ["x", "sumSquares", "dy"] : ["x", "sumSquares"];
    this.shaderKey = `novalabL2Normalize_${this.workgroupSize[0]}_${backward ? "grad" : "forward"}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const size = this.workgroupSize[0];
    const body = this.backward
      ? `var dot = 0.0;
  if (valid) { for (var j = t; j < D; j += ${size}) { dot += x[base + j] * dy[base + j]; } }
  let total = nlReduce(vec2<f32>(dot, 0.0)).x;
  if (valid) {
    let s = sumSquares[row];
    let n = sqrt(max(s, ${FLOOR}));
    let k = select(0.0, total / (n * n * n), s >= ${FLOOR});
    for (var j = t; j < D; j += ${size}) { result[base + j] = dy[base + j] / n - x[base + j] * k; }
  }`
      : `var q = 0.0;
  if (valid) { for (var j = t; j < D; j += ${size}) { q += x[base + j] * x[base + j]; } }
  let s = nlReduce(vec2<f32>(q, 0.0)).x;
  if (valid) {
    let n = sqrt(max(s, ${FLOOR}));
    for (var j = t; j < D; j += ${size}) { result[base + j] = x[base + j] / n; }
    if (t == 0) { sumSquares[row] = s; }
  }`;
    return `${workgroupSumSnippet(size)}
${this.backward ? "" : readWriteLine(["sumSquares"])}
fn main() {
  ${ROW_PRELUDE}
  ${body}
}`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
}

function rowsOf(x: TensorInfo | undefined): { rows: number; dim: number } {
  const dim = x?.shape.at(-1);
  if (!x || x.dtype !== "float32" || dim === undefined || dim === 0) {
    throw new Error(
      "kernels/l2_normalize.ts: x must be a float32 tensor with a non-empty last axis, got " +
        (x ? `${x.dtype} [${x.shape.join(", ")}]` : "nothing"),
    );
  }
  return { rows: tf.util.sizeFromShape(x.shape) / dim, dim };
}

function run(args: Args, backward: boolean): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const { x, sumSquares, dy } = args.inputs;
  const { rows, dim } = rowsOf(x);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const program = new NovalabL2NormalizeProgram(rows, dim, limit, backward);
  const uniforms = [{ type: "int32", data: [rows] }, { type: "int32", data: [dim] }];
  const flat = { ...x!, shape: [rows, dim] };
  if (!backward) {
    const [y, sums] = runWithExtraOutputs(backend, program, [flat], [[rows]], uniforms);
    return [{ ...y!, shape: [...x!.shape] }, sums!];
  }
  if (!sumSquares || !dy || !tf.util.arraysEqual(dy.shape, x!.shape)) {
    throw new Error(
      `kernels/l2_normalize.ts: the gradient needs dy shaped like x [${x!.shape.join(", ")}] ` +
        "and the forward pass's sums of squares",
    );
  }
  const out = backend.runWebGPUProgram(
    program,
    [flat, { ...sumSquares, shape: [rows] }, { ...dy, shape: [rows, dim] }],
    "float32",
    uniforms,
  );
  return [{ ...out, shape: [...x!.shape] }];
}

/** Kernel configs of both passes (webgpu). */
export function l2NormalizeKernelConfigs(): KernelConfig[] {
  return [
    {
      kernelName: L2_NORMALIZE,
      backendName: "webgpu",
      kernelFunc: ((args: Args) => run(args, false)) as unknown as KernelFunc,
    },
    {
      kernelName: L2_NORMALIZE_GRAD,
      backendName: "webgpu",
      kernelFunc: ((args: Args) => run(args, true)[0]!) as unknown as KernelFunc,
    },
  ];
}

/** The op composition: `x / √max(Σx², 10⁻²⁴)` over the last axis. */
export function l2NormalizeComposite(x: Tensor): Tensor {
  return tf.tidy(() => tf.div(x, tf.sqrt(tf.maximum(tf.sum(tf.square(x), -1, true), 1e-24))));
}

/**
 * Divides `x` `[..., D]` by its L2 norm over the last axis (ε = 10⁻¹², so a
 * zero row stays zero); differentiable. Fused on WebGPU (see the module notes).
 */
export function l2Normalize(x: Tensor): Tensor {
  if (!novalabKernelsActive() || x.dtype !== "float32" || x.rank === 0 || x.size === 0) {
    return l2NormalizeComposite(x);
  }
  return runCustomGradOp<Tensor>({
    inputs: { x },
    forwardFunc: (_backend, save) => {
      const [y, sums] = tf.engine().runKernel(L2_NORMALIZE, { x }) as Tensor[];
      save([x, sums!]); // copies kept for the backward pass
      sums!.dispose();
      return y!;
    },
    backwardsFunc: (dy, saved) => {
      const [sx, sums] = saved;
      return {
        x: () =>
          tf.engine().runKernel(L2_NORMALIZE_GRAD, { x: sx!, sumSquares: sums!, dy }) as Tensor,
      };
    },
  });
}
