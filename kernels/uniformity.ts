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
import type { KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { runCustomGradOp, webgpuKernelConfigs } from "./custom_grad.ts";
import { workgroupLseSnippet, workgroupSumSnippet } from "./row_reduce.ts";
import { RowProgram } from "./program_base.ts";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";

/** Kernel name of the forward pass. */
export const UNIFORMITY = "NovalabUniformity";
/** Kernel name of the backward pass. */
export const UNIFORMITY_GRAD = "NovalabUniformityGrad";

const T = 256;
const LOWEST = "-3.0e38";

const DISTANCE = `
fn nlDistance(i : i32, j : i32) -> f32 {
  let B = uniforms.batch;
  return gram[i * B + i] + gram[j * B + j] - 2.0 * gram[i * B + j];
}`;

const ROW = `
  let i = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let B = uniforms.batch;
  let valid = i < B;
  let li = i32(localIndex);`;

/** Batch size and temperature. */
const UNIFORMS = "batch : i32, t : f32,";

/** Each row's `(max, Σ e^{s−max})` over `j ≠ i` → `[2B]`. */
export class NovalabUniformityRowsProgram extends RowProgram {
  /** The Gram matrix. */
  variableNames = ["gram"];
  /** Cache key. */
  shaderKey = "novalabUniformityRows";
  /** Batch size and temperature. */
  uniforms = UNIFORMS;

  /** Builds the program for batch `batch` (`[2B]`); `limit` bounds each grid dimension. */
  constructor(batch: number, limit: number) {
    super([2 * batch], batch, T, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupLseSnippet(T)}
${DISTANCE}
fn main() {
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
export class NovalabUniformityFinishProgram extends RowProgram {
  /** The rows' shares; `lse` is written. */
  variableNames = ["shares", "lse"];
  /** Cache key. */
  shaderKey = "novalabUniformityFinish";
  /** Batch size and temperature. */
  uniforms = UNIFORMS;

  /** One workgroup writing `[1]`, the loss. */
  constructor() {
    super([1], 1, T, 1);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupLseSnippet(T)}
${readWriteLine(["lse"])}
fn main() {
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
export class NovalabUniformityGradProgram extends RowProgram {
  /** Gram matrix, the forward pass's `lse`, the loss's gradient. */
  variableNames = ["gram", "lse", "dy"];
  /** Cache key. */
  shaderKey = "novalabUniformityGrad";
  /** Batch size and temperature. */
  uniforms = UNIFORMS;

  /** Builds the program for batch `batch` (`[B·B]`); `limit` bounds each grid dimension. */
  constructor(batch: number, limit: number) {
    super([batch * batch], batch, T, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${DISTANCE}
${workgroupSumSnippet(T)}
fn main() {
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
  return webgpuKernelConfigs({ [UNIFORMITY]: runForward, [UNIFORMITY_GRAD]: runBackward });
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
