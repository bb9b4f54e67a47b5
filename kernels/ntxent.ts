/**
 * ITO's fusion loss (`losses/ito_fusion.ts`), the NT-Xent of two views: with
 * `G = Z·Zᵀ` `[N, N]` over both views' rows (`N = 2B`) and logit scale `s`,
 *
 *   loss = mean_i [lse_{j≠i} s·Gᵢⱼ − s·Gᵢ,pos(i)],  pos(i) = (i + B) mod N,
 *
 * on WebGPU in two dispatches forward (a workgroup per row for its masked
 * log-sum-exp, one workgroup for the mean) and two backward (one thread per
 * entry writes `dG = s·dz`, `dz = (softmax_{j≠i} − [j = pos(i)])/N`, with
 * per-workgroup sums for the scale's gradient, which `kernels/infonce.ts`'s
 * last program adds up). The composition took about twenty (the mask, the
 * one-hot positives, the scaling, the reductions and their gradients).
 *
 * Kernels: `NovalabNtXent` (inputs `gram`, `scale`) → `[loss [1], lse [N]]`;
 * `NovalabNtXentGrad` (also `lse`, `dy`) → `[dG, ds]`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { runCustomGradOp, webgpuKernelConfigs } from "./custom_grad.ts";
import { runWithExtraOutputs } from "./extra_outputs.ts";
import {
  entryGradSource,
  infoNceGradGroups,
  NovalabInfoNceGradFinishProgram,
} from "./infonce_programs.ts";
import { RowProgram } from "./program_base.ts";
import { workgroupLseSnippet, workgroupSumSnippet } from "./row_reduce.ts";

/** Kernel name of the forward pass. */
export const NT_XENT = "NovalabNtXent";
/** Kernel name of the backward pass. */
export const NT_XENT_GRAD = "NovalabNtXentGrad";

const T = 256;
/** `batch` is N (both views), `groups` the gradient's workgroups (as `kernels/infonce.ts`). */
const UNIFORMS = "batch : i32, groups : i32,";
const POSITIVE = `
fn nlPositive(i : i32) -> i32 { return (i + uniforms.batch / 2) % uniforms.batch; }`;

/** Each row's log-sum-exp of `s·G` without its diagonal → `[N]`. */
export class NovalabNtXentLseProgram extends RowProgram {
  /** Gram matrix and scale. */
  variableNames = ["gram", "scale"];
  /** Cache key. */
  shaderKey = "novalabNtXentLse";
  /** Rows and gradient workgroups. */
  uniforms = UNIFORMS;

  /** Builds the program for `rows` rows; `limit` bounds each grid dimension. */
  constructor(rows: number, limit: number) {
    super([rows], rows, T, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupLseSnippet(T)}
fn main() {
  let i = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let N = uniforms.batch;
  let valid = i < N;
  var acc = vec2<f32>(-3.0e38, 0.0);
  if (valid) {
    for (var j = i32(localIndex); j < N; j += ${T}) {
      if (j != i) { acc = nlCombine(acc, vec2<f32>(scale[0] * gram[i * N + j], 1.0)); }
    }
  }
  let total = nlCombineAll(acc);
  if (valid && localIndex == 0u) { result[i] = total.x + log(total.y); }
}`;
  }
}

/** `mean_i (lseᵢ − s·Gᵢ,pos(i))`, one workgroup → `[1]`. */
export class NovalabNtXentFinishProgram extends RowProgram {
  /** Gram matrix, scale, the rows' log-sum-exps. */
  variableNames = ["gram", "scale", "lse"];
  /** Cache key. */
  shaderKey = "novalabNtXentFinish";
  /** Rows and gradient workgroups. */
  uniforms = UNIFORMS;

  /** One workgroup. */
  constructor() {
    super([1], 1, T, 1);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupSumSnippet(T)}
${POSITIVE}
fn main() {
  let N = uniforms.batch;
  var sum = 0.0;
  for (var i = i32(localIndex); i < N; i += ${T}) {
    sum += lse[i] - scale[0] * gram[i * N + nlPositive(i)];
  }
  let total = nlReduce(vec2<f32>(sum, 0.0)).x;
  if (localIndex == 0u) { result[0] = total / f32(N); }
}`;
  }
}

/** `dG = s·dz` per entry and per-workgroup `(Σ dz·G, Σ dz)` into `partials`. */
export class NovalabNtXentGradProgram extends RowProgram {
  /** Gram matrix, scale, log-sum-exps, the loss's gradient; `partials` is written. */
  variableNames = ["gram", "scale", "lse", "dy", "partials"];
  /** Cache key. */
  shaderKey = "novalabNtXentGrad";
  /** Rows and gradient workgroups. */
  uniforms = UNIFORMS;

  /** Builds the program for `rows` rows; `limit` bounds each grid dimension. */
  constructor(rows: number, limit: number) {
    super([rows * rows], infoNceGradGroups(rows), T, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return entryGradSource(
      "gram",
      `if (j != i) { g = exp(scale[0] * x - lse[i]); }
    if (j == nlPositive(i)) { g -= 1.0; }
    g = g / f32(n);`,
      POSITIVE,
    );
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
}

function setup(args: Args) {
  const { gram, scale } = args.inputs;
  const rows = gram?.shape[0] ?? 0;
  if (
    !gram || gram.dtype !== "float32" || gram.shape.length !== 2 || gram.shape[1] !== rows ||
    rows < 2 || rows % 2 !== 0 || !scale || tf.util.sizeFromShape(scale.shape) !== 1
  ) {
    throw new Error(
      "kernels/ntxent.ts: gram must be a float32 [N, N] with N = 2B ≥ 2 (two views) and scale " +
        `one float32 element, got gram ${gram ? `[${gram.shape}]` : "nothing"}`,
    );
  }
  const backend = args.backend as WebGPUBackend;
  const int = (v: number) => ({ type: "int32", data: [v] });
  return {
    backend,
    rows,
    inputs: [{ ...gram, shape: [rows * rows] }, { ...scale, shape: [1] }],
    uniforms: [int(rows), int(infoNceGradGroups(rows))],
    limit: backend.device.limits.maxComputeWorkgroupsPerDimension,
  };
}

function runForward(args: Args): TensorInfo[] {
  const { backend, rows, inputs, uniforms, limit } = setup(args);
  const lse = backend.runWebGPUProgram(
    new NovalabNtXentLseProgram(rows, limit),
    inputs,
    "float32",
    uniforms,
  );
  const loss = backend.runWebGPUProgram(
    new NovalabNtXentFinishProgram(),
    [...inputs, lse],
    "float32",
    uniforms,
  );
  return [loss, lse];
}

function runBackward(args: Args): TensorInfo[] {
  const { backend, rows, inputs, uniforms, limit } = setup(args);
  const { lse, dy } = args.inputs;
  if (!lse || !dy) throw new Error("kernels/ntxent.ts: the gradient needs lse and dy");
  const [dGram, partials] = runWithExtraOutputs(
    backend,
    new NovalabNtXentGradProgram(rows, limit),
    [...inputs, { ...lse, shape: [rows] }, { ...dy, shape: [1] }],
    [[2 * infoNceGradGroups(rows)]],
    uniforms,
  );
  try {
    const [dScale, dUnused] = runWithExtraOutputs(
      backend,
      new NovalabInfoNceGradFinishProgram(),
      [partials!],
      [[1]],
      uniforms,
    );
    backend.disposeData(dUnused!.dataId);
    return [{ ...dGram!, shape: [rows, rows] }, dScale!];
  } finally {
    backend.disposeData(partials!.dataId);
  }
}

/** Kernel configs of both passes (webgpu). */
export function ntXentKernelConfigs(): KernelConfig[] {
  return webgpuKernelConfigs({ [NT_XENT]: runForward, [NT_XENT_GRAD]: runBackward });
}

/**
 * The NT-Xent of two views from their rows' Gram matrix `gram` `[2B, 2B]`
 * (view 1's rows, then view 2's) under logit scale `scale` (one element),
 * differentiable in both. Needs novalab's WebGPU kernels.
 */
export function ntXentFromGram(gram: Tensor, scale: Tensor): Scalar {
  return runCustomGradOp<Tensor>({
    inputs: { gram, scale },
    forwardFunc: (_backend, save) => {
      const [loss, lse] = tf.engine().runKernel(NT_XENT, { gram, scale }) as Tensor[];
      save([gram, scale, lse!]);
      lse!.dispose();
      const scalar = loss!.reshape([]);
      loss!.dispose();
      return scalar;
    },
    backwardsFunc: (dy, saved) => {
      const [g, sc, lse] = saved;
      // Both gradients at once, eagerly (a lazy closure's tensors die with its own tidy).
      const [dGram, dScale] = tf.engine().runKernel(NT_XENT_GRAD, {
        gram: g!,
        scale: sc!,
        lse: lse!,
        dy,
      }) as Tensor[];
      return { gram: () => dGram!, scale: () => dScale!.reshape(sc!.shape) };
    },
  }) as Scalar;
}
