/**
 * `log Σ exp` over one axis of a matrix, fused on WebGPU: one dispatch
 * forward, one backward (`dx = dy·softmax(x)`; `kernels/logsumexp_programs.ts`)
 * where `tf.logSumExp` takes six forward and about as many backward. The
 * contrastive losses (CLIP's and ITO's InfoNCE over rows and columns, the
 * masked row cross-entropy, feature separation) run on it.
 *
 * Kernels: `NovalabLogSumExp` (input `x` `[rows, cols]`, attr `axis`; output
 * `[rows]` or `[cols]`) and `NovalabLogSumExpGrad` (inputs `x`, `lse`, `dy`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { GradSaveFunc, Tensor, Tensor1D } from "../core/tensor.ts";
import { NovalabLogSumExpGradProgram, NovalabLogSumExpProgram } from "./logsumexp_programs.ts";
import { runCustomGradOp } from "./custom_grad.ts";
import { novalabKernelsActive } from "./active.ts";

/** Kernel name of the forward pass. */
export const LOG_SUM_EXP = "NovalabLogSumExp";
/** Kernel name of the backward pass. */
export const LOG_SUM_EXP_GRAD = "NovalabLogSumExpGrad";

const WHERE = "kernels/logsumexp.ts";

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function parse(args: Args): { rows: number; cols: number; axis: 0 | 1 } {
  const x = args.inputs["x"];
  if (!x || x.dtype !== "float32" || x.shape.length !== 2 || x.shape.includes(0)) {
    throw new Error(
      `${WHERE}: x must be a non-empty float32 matrix [rows, cols], got ` +
        (x ? `${x.dtype} [${x.shape.join(", ")}]` : "nothing"),
    );
  }
  const axis = Number(args.attrs?.["axis"]);
  if (axis !== 0 && axis !== 1) throw new Error(`${WHERE}: axis must be 0 or 1, got ${axis}`);
  return { rows: x.shape[0]!, cols: x.shape[1]!, axis };
}

function runForward(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const { rows, cols, axis } = parse(args);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  return backend.runWebGPUProgram(
    new NovalabLogSumExpProgram(rows, cols, axis, limit),
    [args.inputs["x"]!],
    "float32",
    [{ type: "int32", data: [rows] }, { type: "int32", data: [cols] }],
  );
}

function runGrad(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const { rows, cols, axis } = parse(args);
  const reduced = axis === 1 ? rows : cols;
  for (const name of ["lse", "dy"]) {
    const t = args.inputs[name];
    if (!t || t.dtype !== "float32" || tf.util.sizeFromShape(t.shape) !== reduced) {
      throw new Error(
        `${WHERE}: ${name} must be float32 with ${reduced} entries (one per ${
          axis === 1 ? "row" : "column"
        }), got ${t ? `${t.dtype} [${t.shape.join(", ")}]` : "nothing"}`,
      );
    }
  }
  const x = args.inputs["x"]!;
  const out = backend.runWebGPUProgram(
    new NovalabLogSumExpGradProgram(rows * cols, axis),
    [{ ...x, shape: [rows * cols] }, args.inputs["lse"]!, args.inputs["dy"]!],
    "float32",
    [{ type: "int32", data: [rows * cols] }, { type: "int32", data: [cols] }],
  );
  return { ...out, shape: [rows, cols] };
}

/** Kernel configs of both passes (webgpu). */
export function logSumExpKernelConfigs(): KernelConfig[] {
  return [
    {
      kernelName: LOG_SUM_EXP,
      backendName: "webgpu",
      kernelFunc: runForward as unknown as KernelFunc,
    },
    {
      kernelName: LOG_SUM_EXP_GRAD,
      backendName: "webgpu",
      kernelFunc: runGrad as unknown as KernelFunc,
    },
  ];
}

/**
 * `tf.logSumExp` with the analytic gradient `dy · exp(x − lse)` (the softmax):
 * tfjs differentiates through the max it subtracts for stability, which costs
 * a broadcast `Equal` per call ([256, 256] against [256, 1]: ~7 ms on WASM, a
 * tenth of a CLIP step) and adds nothing, since the shift cancels.
 */
const composedLogSumExp = (axis: 0 | 1) =>
  tf.customGrad((...args: (Tensor | GradSaveFunc)[]) => {
    const [x, save] = args as [Tensor, GradSaveFunc];
    const lse = tf.logSumExp(x, axis);
    save([x, lse]);
    return {
      value: lse,
      gradFunc: (dy: Tensor, saved: Tensor[]) => {
        const [sx, sl] = saved as [Tensor, Tensor];
        const softmax = tf.exp(tf.sub(sx, tf.expandDims(sl, axis)));
        return [tf.mul(softmax, tf.expandDims(dy, axis))];
      },
    };
  }) as unknown as (x: Tensor) => Tensor1D;

const composed = { 0: composedLogSumExp(0), 1: composedLogSumExp(1) };

/**
 * `log Σ exp` of the matrix `x` `[rows, cols]` over `axis` (1: each row's,
 * 0: each column's) → `[rows]` or `[cols]`; differentiable. One fused kernel
 * each way on WebGPU with novalab's kernels, `tf.logSumExp` with the softmax
 * as its gradient elsewhere.
 */
export function logSumExp(x: Tensor, axis: 0 | 1): Tensor1D {
  if (!novalabKernelsActive() || x.dtype !== "float32" || x.rank !== 2 || x.size === 0) {
    if (x.rank !== 2 || x.size === 0 || x.dtype !== "float32") {
      return tf.logSumExp(x, axis) as Tensor1D;
    }
    return composed[axis](x);
  }
  return runCustomGradOp<Tensor1D>({
    inputs: { x },
    forwardFunc: (_backend, save) => {
      const lse = tf.engine().runKernel(LOG_SUM_EXP, { x }, { axis }) as Tensor1D;
      save([x, lse]); // copies kept for the backward pass
      return lse;
    },
    backwardsFunc: (dy, saved) => {
      const [sx, lse] = saved;
      return {
        x: () =>
          tf.engine().runKernel(LOG_SUM_EXP_GRAD, { x: sx!, lse: lse!, dy }, { axis }) as Tensor,
      };
    },
  });
}
