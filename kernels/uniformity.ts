/**
 * The uniformity loss of feature separation (`losses/feature_separation.ts`),
 * `ln mean_{i≠j} e^{−t·‖xᵢ − xⱼ‖²}`, from the Gram matrix `G = X·Xᵀ` `[B, B]`
 * (`‖xᵢ − xⱼ‖² = max(Gᵢᵢ + Gⱼⱼ − 2Gᵢⱼ, 0)`) on WebGPU: two dispatches forward
 * (a workgroup per row keeps a running `(max, Σ e^{s−max})` over its
 * off-diagonal scores; one workgroup combines the rows) and one backward (a
 * workgroup per row: `dGᵢⱼ = −2wᵢⱼ`, `dGᵢᵢ = 2Σⱼ wᵢⱼ` with
 * `wᵢⱼ = dy·softmaxᵢⱼ·(−t)·[‖xᵢ − xⱼ‖² > 0]`) — the composition took about
 * twenty per call, and feature separation calls it once per view and modality.
 *
 * Kernels: `NovalabUniformity` (input `gram`; attr `t`) → `[loss, lse]`
 * (`[1]` each); `NovalabUniformityGrad` (inputs `gram`, `lse`, `dy`) → `dG`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { runCustomGradOp } from "./custom_grad.ts";
import { gridFor, workgroupSumSnippet } from "./row_reduce.ts";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";

/** Kernel name of the forward pass. */
export const UNIFORMITY = "NovalabUniformity";
/** Kernel name of the backward pass. */
export const UNIFORMITY_GRAD = "NovalabUniformityGrad";

const T = 256;
const LOWEST = "-3.0e38";

const SCORE = `
fn nlCombine(a : vec2<f32>, b : vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}
var<workgroup> nlShares : array<vec2<f32>, ${T}>;
fn nlCombineAll(v : vec2<f32>) -> vec2<f32> {
  let li = localIndex;
  nlShares[li] = v;
  workgroupBarrier();
  ${
  Array.from({ length: Math.log2(T) }, (_, i) => T / 2 ** (i + 1)).map((s) =>
    `if (li < ${s}u) { nlShares[li] = nlCombine(nlShares[li], nlShares[li + ${s}u]); } workgroupBarrier();`
  ).join("\n  ")
}
  let total = nlShares[0];
  workgroupBarrier();
  return total;
}
fn nlDistance(i : i32, j : i32) -> f32 {
  let B = uniforms.batch;
  return gram[i * B + i] + gram[j * B + j] - 2.0 * gram[i * B + j];
}`;

const ROW = `
  let i = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let B = uniforms.batch;
  let valid = i < B;
  let li = i32(localIndex);`;

abstract class UniformityProgram implements WebGPUProgram {
  abstract variableNames: string[];
  abstract outputShape: number[];
  abstract shaderKey: string;
  /** Flat layout: `main(index)` (workgroups number themselves). */
  dispatchLayout = { x: [0] };
  /** Workgroups. */
  dispatch: [number, number, number] = [1, 1, 1];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [T, 1, 1];
  /** Batch size and temperature. */
  uniforms = "batch : i32, t : f32,";
  /** WGSL user code. */
  abstract getUserCode(): string;
}

/** Each row's `(max, Σ e^{s−max})` over `j ≠ i` → `[2B]`. */
export class NovalabUniformityRowsProgram extends UniformityProgram {
  /** The Gram matrix. */
  variableNames = ["gram"];
  /** `[2B]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey = "novalabUniformityRows";

  /** Builds the program for batch `batch`; `limit` bounds each grid dimension. */
  constructor(batch: number, limit: number) {
    super();
    this.outputShape = [2 * batch];
    this.dispatch = gridFor(batch, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${SCORE}
fn main(index0 : i32) {
  ${ROW}
  var acc = vec2<f32>(${LOWEST}, 0.0);
  if (valid) {
    for (var j = li; j < B; j += ${T}) {
      if (j != i) { acc = nlCombine(acc, vec2<f32>(-uniforms.t * max(nlDistance(i, j), 0.0), 1.0)); }
    }
  }
  let total = nlCombineAll(acc);
  if (valid && li == 0) { result[2 * i] = total.x; result[2 * i + 1] = total.y; }
}`;
  }
}

/** `lse − ln(B(B−1))`, and `lse` (written), from the rows' shares, one workgroup. */
export class NovalabUniformityFinishProgram extends UniformityProgram {
  /** The rows' shares; `lse` is written. */
  variableNames = ["shares", "lse"];
  /** `[1]`: the loss. */
  outputShape = [1];
  /** Cache key. */
  shaderKey = "novalabUniformityFinish";

  /** WGSL user code. */
  getUserCode(): string {
    return `${SCORE.replace(/fn nlDistance[\s\S]*$/, "")}
${readWriteLine(["lse"])}
fn main(index0 : i32) {
  let B = uniforms.batch;
  var acc = vec2<f32>(${LOWEST}, 0.0);
  for (var k = i32(localIndex); k < B; k += ${T}) {
    acc = nlCombine(acc, vec2<f32>(shares[2 * k], shares[2 * k + 1]));
  }
  let total = nlCombineAll(acc);
  if (localIndex == 0u) {
    let all = total.x + log(total.y);
    let n = f32(B);
    result[0] = all - log(n * (n - 1.0));
    lse[0] = all;
  }
}`;
  }
}

/** `dG` `[B, B]`, a workgroup per row. */
export class NovalabUniformityGradProgram extends UniformityProgram {
  /** Gram matrix, the forward pass's `lse`, the loss's gradient. */
  variableNames = ["gram", "lse", "dy"];
  /** `[B·B]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey = "novalabUniformityGrad";

  /** Builds the program for batch `batch`; `limit` bounds each grid dimension. */
  constructor(batch: number, limit: number) {
    super();
    this.outputShape = [batch * batch];
    this.dispatch = gridFor(batch, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${SCORE}
${workgroupSumSnippet(T)}
fn main(index0 : i32) {
  ${ROW}
  var rowSum = 0.0;
  if (valid) {
    let all = lse[0];
    for (var j = li; j < B; j += ${T}) {
      if (j != i) {
        let d = nlDistance(i, j);
        var w = 0.0;
        if (d > 0.0) { w = dy[0] * exp(-uniforms.t * d - all) * -uniforms.t; }
        result[i * B + j] = -2.0 * w;
        rowSum += w;
      }
    }
  }
  let total = nlReduce(vec2<f32>(rowSum, 0.0)).x;
  if (valid && li == 0) { result[i * B + i] = 2.0 * total; }
}`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function setup(args: Args) {
  const gram = args.inputs["gram"];
  const batch = gram?.shape[0] ?? 0;
  if (!gram || gram.dtype !== "float32" || gram.shape.length !== 2 || gram.shape[1] !== batch) {
    throw new Error("kernels/uniformity.ts: gram must be a float32 square matrix [B, B]");
  }
  if (batch < 2) throw new Error(`kernels/uniformity.ts: needs B ≥ 2 rows, got ${batch}`);
  const backend = args.backend as WebGPUBackend;
  return {
    backend,
    gram: { ...gram, shape: [batch * batch] },
    batch,
    limit: backend.device.limits.maxComputeWorkgroupsPerDimension,
    uniforms: [
      { type: "int32", data: [batch] },
      { type: "float32", data: [Number(args.attrs?.["t"])] },
    ],
  };
}

function runForward(args: Args): TensorInfo[] {
  const { backend, gram, batch, limit, uniforms } = setup(args);
  const shares = backend.runWebGPUProgram(
    new NovalabUniformityRowsProgram(batch, limit),
    [gram],
    "float32",
    uniforms,
  );
  try {
    return runWithExtraOutputs(
      backend,
      new NovalabUniformityFinishProgram(),
      [shares],
      [[1]],
      uniforms,
    );
  } finally {
    backend.disposeData(shares.dataId);
  }
}

function runBackward(args: Args): TensorInfo {
  const { backend, gram, batch, limit, uniforms } = setup(args);
  const { lse, dy } = args.inputs;
  if (!lse || !dy) throw new Error("kernels/uniformity.ts: the gradient needs lse and dy");
  const dGram = backend.runWebGPUProgram(
    new NovalabUniformityGradProgram(batch, limit),
    [gram, { ...lse, shape: [1] }, { ...dy, shape: [1] }],
    "float32",
    uniforms,
  );
  return { ...dGram, shape: [batch, batch] };
}

/** Kernel configs of both passes (webgpu). */
export function uniformityKernelConfigs(): KernelConfig[] {
  return [
    {
      kernelName: UNIFORMITY,
      backendName: "webgpu",
      kernelFunc: runForward as unknown as KernelFunc,
    },
    {
      kernelName: UNIFORMITY_GRAD,
      backendName: "webgpu",
      kernelFunc: runBackward as unknown as KernelFunc,
    },
  ];
}

/**
 * `ln mean_{i≠j} e^{−t·‖xᵢ − xⱼ‖²}` from the Gram matrix `gram` `[B, B]` of the
 * features, differentiable in it (needs novalab's WebGPU kernels; float32).
 */
export function uniformityFromGram(gram: Tensor, t: number): Scalar {
  return runCustomGradOp<Tensor>({
    inputs: { gram },
    forwardFunc: (_backend, save) => {
      const [loss, lse] = tf.engine().runKernel(UNIFORMITY, { gram }, { t }) as Tensor[];
      save([gram, lse!]);
      lse!.dispose();
      const scalar = loss!.reshape([]);
      loss!.dispose();
      return scalar;
    },
    backwardsFunc: (dy, saved) => {
      const [g, lse] = saved;
      const dGram = tf.engine().runKernel(UNIFORMITY_GRAD, { gram: g!, lse: lse!, dy }, {
        t,
      }) as Tensor;
      return { gram: () => dGram };
    },
  }) as Scalar;
}
