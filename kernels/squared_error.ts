/**
 * The mean squared error of NOVA's prediction term, `mean((pred − target)²)`
 * with the target broadcast over leading views, as one dispatch forward and
 * one backward on WebGPU — the op composition took about eight (difference,
 * square, mean, and their gradients with the broadcast target's reduction).
 *
 * Kernels: `NovalabSquaredError` (inputs `pred` `[V·M]`, `target` `[M]`
 * flattened) → `[1]`, summed by one workgroup of 256 threads in a tree (more
 * accurate than a running sum); `NovalabSquaredErrorGrad` (inputs `pred`,
 * `target`, `dy`) → `dpred` `[V·M]` and `dtarget` `[M]`, one thread per target
 * element looping over the views: `dpred = 2·dy·(pred − target)/(V·M)`,
 * `dtarget = −Σ_v dpred`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { webgpuKernelConfigs } from "./custom_grad.ts";
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";
import { workgroupSumSnippet } from "./row_reduce.ts";

/** Kernel name of the forward pass. */
export const SQUARED_ERROR = "NovalabSquaredError";
/** Kernel name of the backward pass. */
export const SQUARED_ERROR_GRAD = "NovalabSquaredErrorGrad";

/** Threads of the forward pass's one workgroup. */
const THREADS = 256;
/** Threads per workgroup of the backward pass. */
const GRAD_WORKGROUP = 64;

const UNIFORMS = "count : i32, targetSize : i32, views : i32,";

/** `Σ (pred − target)² / count` by one workgroup. */
export class NovalabSquaredErrorProgram implements WebGPUProgram {
  /** Predictions and targets (flattened; `target` is a WGSL keyword). */
  variableNames = ["pred", "anchor"];
  /** `[1]`. */
  outputShape = [1];
  /** Cache key. */
  shaderKey = "novalabSquaredError";
  /** Flat layout: `main(index)` (the index goes unused). */
  dispatchLayout = { x: [0] };
  /** One workgroup. */
  dispatch: [number, number, number] = [1, 1, 1];
  /** Threads. */
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  /** Elements of `pred`, of `target`, and views (`count / targetSize`). */
  uniforms = UNIFORMS;

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupSumSnippet(THREADS)}
fn main(index0 : i32) {
  let li = i32(localIndex);
  var s = 0.0;
  for (var i = li; i < uniforms.count; i += ${THREADS}) {
    let d = pred[i] - anchor[i % uniforms.targetSize];
    s += d * d;
  }
  let total = nlReduce(vec2<f32>(s, 0.0)).x;
  if (li == 0) { result[0] = total / f32(uniforms.count); }
}`;
  }
}

/** Both gradients, one thread per target element; `dtarget` is written. */
export class NovalabSquaredErrorGradProgram implements WebGPUProgram {
  /** Predictions, targets, the loss's gradient; `dtarget` is written. */
  variableNames = ["pred", "anchor", "dy", "dtarget"];
  /** `[V·M]`: dpred. */
  outputShape: number[];
  /** Cache key. */
  shaderKey = "novalabSquaredErrorGrad";
  /** Flat layout: `main(index)`. */
  dispatchLayout = { x: [0] };
  /** One thread per target element. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [GRAD_WORKGROUP, 1, 1];
  /** As the forward pass. */
  uniforms = UNIFORMS;

  /** Builds the program for `count` predictions of `targetSize` targets. */
  constructor(count: number, targetSize: number) {
    this.outputShape = [count];
    this.dispatch = [Math.ceil(targetSize / GRAD_WORKGROUP), 1, 1];
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${readWriteLine(["dtarget"])}
fn main(index : i32) {
  if (index >= uniforms.targetSize) { return; }
  let t = anchor[index];
  let k = 2.0 * dy[0] / f32(uniforms.count);
  var sum = 0.0;
  for (var v = 0; v < uniforms.views; v++) {
    let i = v * uniforms.targetSize + index;
    let d = k * (pred[i] - t);
    result[i] = d;
    sum += d;
  }
  dtarget[index] = -sum;
}`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
}

const flat = (t: TensorInfo) => ({ ...t, shape: [tf.util.sizeFromShape(t.shape)] });

/** Checks the operands; returns the uniforms. */
function operands(args: Args) {
  const { pred, target } = args.inputs;
  const count = pred ? tf.util.sizeFromShape(pred.shape) : 0;
  const targetSize = target ? tf.util.sizeFromShape(target.shape) : 0;
  if (
    !pred || !target || pred.dtype !== "float32" || target.dtype !== "float32" ||
    targetSize === 0 || count % targetSize !== 0
  ) {
    throw new Error(
      "kernels/squared_error.ts: pred and target must be float32 with pred's size a multiple " +
        `of target's (views × target), got ${pred ? `${pred.dtype} [${pred.shape}]` : "nothing"} ` +
        `and ${target ? `${target.dtype} [${target.shape}]` : "nothing"}`,
    );
  }
  const int = (v: number) => ({ type: "int32", data: [v] });
  return {
    pred,
    target,
    count,
    targetSize,
    uniforms: [count, targetSize, count / targetSize].map(int),
  };
}

function runForward(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const { pred, target, uniforms } = operands(args);
  return backend.runWebGPUProgram(
    new NovalabSquaredErrorProgram(),
    [flat(pred), flat(target)],
    "float32",
    uniforms,
  );
}

function runBackward(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const { pred, target, count, targetSize, uniforms } = operands(args);
  const dy = args.inputs["dy"];
  if (!dy || dy.dtype !== "float32" || tf.util.sizeFromShape(dy.shape) !== 1) {
    throw new Error(
      "kernels/squared_error.ts: dy must be one float32 element (the loss's gradient)",
    );
  }
  const [dpred, dtarget] = runWithExtraOutputs(
    backend,
    new NovalabSquaredErrorGradProgram(count, targetSize),
    [flat(pred), flat(target), flat(dy)],
    [[targetSize]],
    uniforms,
  );
  return [{ ...dpred!, shape: [...pred.shape] }, { ...dtarget!, shape: [...target.shape] }];
}

/** Kernel configs of both passes (webgpu). */
export function squaredErrorKernelConfigs(): KernelConfig[] {
  return webgpuKernelConfigs({ [SQUARED_ERROR]: runForward, [SQUARED_ERROR_GRAD]: runBackward });
}
