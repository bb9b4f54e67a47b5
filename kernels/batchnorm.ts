/**
 * Training-mode batch normalisation followed by an activation, fused on
 * WebGPU: `y = act((x − μ)·(σ² + ε)^-½·γ + β)` over every axis of `x` but the
 * last, with the batch's mean and biased variance — one dispatch forward
 * (which also hands back μ and σ² for the running estimates) and one backward
 * (dx, dγ and dβ together; `kernels/batchnorm_programs.ts`). The op
 * composition it replaces (tf.moments, normalise, scale, shift, then the
 * activation) took about 15 dispatches forward and 25 backward per layer in
 * the projector/predictor heads of NOVA-style recipes.
 *
 * Kernels: `NovalabBatchNorm` (inputs `x, gamma, beta`, attrs `eps`,
 * `activation`; outputs `y`, `mean`, `variance`) and
 * `NovalabBatchNormBackward` (plus `batchMean, batchVariance, dy`; outputs
 * `dx`, `dGamma`, `dBeta`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Tensor } from "../core/tensor.ts";
import {
  isPointwiseActivation,
  POINTWISE_ACTIVATIONS,
  type PointwiseActivation,
} from "./activation_wgsl.ts";
import {
  NovalabBatchNormBackwardProgram,
  NovalabBatchNormProgram,
  NovalabRunningStatsProgram,
} from "./batchnorm_programs.ts";
import { runWithExtraOutputs } from "./extra_outputs.ts";
import { assertSoleOwner, dropCpuCopies } from "./in_place.ts";
import { runCustomGradOp } from "./custom_grad.ts";
import { novalabKernelsActive } from "./active.ts";

/** Kernel name of the forward pass. */
export const BATCH_NORM = "NovalabBatchNorm";
/** Kernel name of the backward pass. */
export const BATCH_NORM_BACKWARD = "NovalabBatchNormBackward";
/** Kernel name of the running estimates' update. */
export const BATCH_NORM_RUNNING_STATS = "NovalabBatchNormRunningStats";

const WHERE = "kernels/batchnorm.ts";

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/** Validated sizes and attributes of a call. */
function parse(args: Args, names: string[]): {
  rows: number;
  dim: number;
  eps: number;
  activation: PointwiseActivation;
  flat: TensorInfo[];
} {
  const x = args.inputs["x"];
  const dim = x?.shape.at(-1);
  if (!x || x.dtype !== "float32" || dim === undefined || dim === 0 || x.shape.length < 2) {
    throw new Error(
      `${WHERE}: x must be a float32 tensor [..., rows, dim] with a non-empty last axis, got ` +
        (x ? `${x.dtype} [${x.shape.join(", ")}]` : "nothing"),
    );
  }
  const rows = tf.util.sizeFromShape(x.shape) / dim;
  const attrs = args.attrs ?? {};
  const eps = Number(attrs["eps"]);
  if (!(eps >= 0)) throw new Error(`${WHERE}: eps must be a number ≥ 0, got ${attrs["eps"]}`);
  const activation = String(attrs["activation"]);
  if (!isPointwiseActivation(activation)) {
    throw new Error(
      `${WHERE}: activation '${activation}' is not fusable; valid: ${
        POINTWISE_ACTIVATIONS.join(", ")
      }`,
    );
  }
  const flat = names.map((name) => {
    const t = args.inputs[name];
    const perColumn = name !== "x" && name !== "dy";
    const size = perColumn ? dim : rows * dim;
    if (!t || t.dtype !== "float32" || tf.util.sizeFromShape(t.shape) !== size) {
      throw new Error(
        `${WHERE}: ${name} must be float32 with ${size} entries (${
          perColumn ? "one per column of x" : "shaped like x"
        }), got ${t ? `${t.dtype} [${t.shape.join(", ")}]` : "nothing"}`,
      );
    }
    return { ...t, shape: perColumn ? [dim] : [rows, dim] };
  });
  return { rows, dim, eps, activation, flat };
}

function uniforms(rows: number, dim: number, eps: number) {
  return [
    { type: "int32", data: [rows] },
    { type: "int32", data: [dim] },
    { type: "float32", data: [eps] },
  ];
}

function runForward(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const { rows, dim, eps, activation, flat } = parse(args, ["x", "gamma", "beta"]);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const program = new NovalabBatchNormProgram(rows, dim, limit, activation);
  const [y, mean, variance] = runWithExtraOutputs(
    backend,
    program,
    flat,
    [[dim], [dim]],
    uniforms(rows, dim, eps),
  );
  return [{ ...y!, shape: [...args.inputs["x"]!.shape] }, mean!, variance!];
}

function runBackward(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const names = ["x", "gamma", "beta", "batchMean", "batchVariance", "dy"];
  const { rows, dim, eps, activation, flat } = parse(args, names);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const program = new NovalabBatchNormBackwardProgram(rows, dim, limit, activation);
  const [dx, dGamma, dBeta] = runWithExtraOutputs(
    backend,
    program,
    flat,
    [[dim], [dim]],
    uniforms(rows, dim, eps),
  );
  return [{ ...dx!, shape: [...args.inputs["x"]!.shape] }, dGamma!, dBeta!];
}

function runRunningStats(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const names = ["runningMean", "runningVariance", "batchMean", "batchVariance"];
  const dim = args.inputs["runningMean"]?.shape.reduce((p, d) => p * d, 1) ?? 0;
  for (const name of names) {
    const t = args.inputs[name];
    if (!t || t.dtype !== "float32" || tf.util.sizeFromShape(t.shape) !== dim || dim === 0) {
      throw new Error(
        `${WHERE}: ${name} must be float32 with ${dim} entries (one per column), got ` +
          (t ? `${t.dtype} [${t.shape.join(", ")}]` : "nothing"),
      );
    }
  }
  const attrs = args.attrs ?? {};
  const momentum = Number(attrs["momentum"]), varianceMomentum = Number(attrs["varianceMomentum"]);
  const guard = args.inputs["guard"];
  if (guard && (guard.dtype !== "float32" || tf.util.sizeFromShape(guard.shape) < 2)) {
    throw new Error(
      `${WHERE}: guard must be a float32 step report ([scale, ok, …]), got ` +
        `${guard.dtype} [${guard.shape.join(", ")}]`,
    );
  }
  const flatInputs = names.map((name) => ({ ...args.inputs[name]!, shape: [dim] }));
  if (guard) flatInputs.push({ ...guard, shape: [tf.util.sizeFromShape(guard.shape)] });
  const running = [args.inputs["runningMean"]!, args.inputs["runningVariance"]!];
  running.forEach((t, i) => assertSoleOwner(backend, t, names[i]!, WHERE));
  const unused = backend.runWebGPUProgram(
    new NovalabRunningStatsProgram(dim, guard !== undefined),
    flatInputs,
    "float32",
    [
      { type: "int32", data: [dim] },
      { type: "float32", data: [momentum] },
      { type: "float32", data: [varianceMomentum] },
    ],
  );
  dropCpuCopies(backend, running, WHERE);
  return [unused];
}

/** Kernel configs of both passes and the running update (webgpu). */
export function batchNormKernelConfigs(): KernelConfig[] {
  return [
    {
      kernelName: BATCH_NORM,
      backendName: "webgpu",
      kernelFunc: runForward as unknown as KernelFunc,
    },
    {
      kernelName: BATCH_NORM_BACKWARD,
      backendName: "webgpu",
      kernelFunc: runBackward as unknown as KernelFunc,
    },
    {
      kernelName: BATCH_NORM_RUNNING_STATS,
      backendName: "webgpu",
      kernelFunc: runRunningStats as unknown as KernelFunc,
    },
  ];
}

/** True when {@linkcode batchNormActivation} can run on `x` now. */
export function fusedBatchNormActive(
  x: Tensor,
  activation: string | undefined,
): activation is PointwiseActivation {
  return novalabKernelsActive() && x.dtype === "float32" &&
    x.rank >= 2 &&
    isPointwiseActivation(activation);
}

/** The result of {@linkcode batchNormActivation}. */
export interface BatchNormResult {
  /** `act(BN(x))`, shaped like x; differentiable in x, γ and β. */
  y: Tensor;
  /** The batch mean `[dim]` (not on the gradient tape; the caller disposes it). */
  mean: Tensor;
  /** The biased batch variance `[dim]` (likewise). */
  variance: Tensor;
}

/**
 * Training-mode batch norm of `x` `[..., dim]` with `gamma`, `beta` `[dim]`
 * and `eps`, then `activation` — on WebGPU with novalab's kernels (check
 * {@linkcode fusedBatchNormActive} first). The statistics come back beside
 * the output but are not outputs of the op, so no zero gradient is made for
 * them in the backward pass.
 */
export function batchNormActivation(
  x: Tensor,
  gamma: Tensor,
  beta: Tensor,
  eps: number,
  activation: PointwiseActivation,
): BatchNormResult {
  let stats: [Tensor, Tensor] | undefined;
  const attrs = { eps, activation };
  const y = runCustomGradOp<Tensor>({
    inputs: { x, gamma, beta },
    forwardFunc: (_backend, save) => {
      const [out, mean, variance] = tf.engine().runKernel(
        BATCH_NORM,
        { x, gamma, beta },
        attrs,
      ) as Tensor[];
      save([x, gamma, beta, mean!, variance!]); // copies kept for the backward pass
      stats = [tf.keep(mean!), tf.keep(variance!)];
      return out!;
    },
    backwardsFunc: (dy, saved) => {
      const [sx, sGamma, sBeta, sMean, sVariance] = saved as Tensor[];
      const [dx, dGamma, dBeta] = tf.engine().runKernel(BATCH_NORM_BACKWARD, {
        x: sx!,
        gamma: sGamma!,
        beta: sBeta!,
        batchMean: sMean!,
        batchVariance: sVariance!,
        dy,
      }, attrs) as Tensor[];
      return {
        x: () => dx!,
        gamma: () => dGamma!.reshape(gamma.shape),
        beta: () => dBeta!.reshape(beta.shape),
      };
    },
  });
  return { y, mean: stats![0], variance: stats![1] };
}

/**
 * Updates the running estimates in place after a step, `mean ← (1 − m)·mean +
 * m·μ`, `var ← (1 − m)·var + (m·n/(n − 1))·σ²` (`unbiased` = n/(n − 1)), in one
 * dispatch (novalab's WebGPU kernels must be active; float32 `[dim]` tensors,
 * each the only tensor on its buffer). With `guard` (a step report,
 * `core/step_guard.ts`) whose element 1 is 0, they stay as they were.
 */
export function updateRunningStatistics(
  running: { mean: Tensor; variance: Tensor },
  batch: { mean: Tensor; variance: Tensor },
  momentum: number,
  unbiased: number,
  guard?: Tensor,
): void {
  tf.tidy(() => {
    tf.engine().runKernel(BATCH_NORM_RUNNING_STATS, {
      runningMean: running.mean,
      runningVariance: running.variance,
      batchMean: batch.mean,
      batchVariance: batch.variance,
      ...(guard ? { guard } : {}),
    }, { momentum, varianceMomentum: momentum * unbiased });
  });
}
