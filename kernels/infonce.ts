/**
 * CLIP's symmetric InfoNCE from the similarity matrix `S = I·Tᵀ` `[B, B]`, a
 * logit scale `s` and bias `b`, on WebGPU in two dispatches forward and two
 * backward (programs in `kernels/infonce_programs.ts`):
 *
 *   loss = ½ [mean_i lse_j zᵢⱼ + mean_j lse_i zᵢⱼ] − mean_i zᵢᵢ,  z = s·S + b
 *
 * with gradients for `S`, `s` and `b`. With target weights `W` `[B, B]` (a
 * constant: UniCL's multi-positive targets, ALBEF's soft ones; see
 * `losses/clip.ts`) the diagonal's mean becomes `Σᵢⱼ Wᵢⱼ zᵢⱼ / B`. The op composition (`losses/clip.ts`)
 * took about 30 small dispatches for the scaling, both log-sum-exps, the
 * diagonal, the means and their gradients; here the diagonal is read from `S`.
 *
 * Kernels: `NovalabInfoNce` (inputs `sim`, `scale` `[1]`, `bias` `[1]`,
 * optional `targets` `[B, B]`) → `[loss [1], lse [2B]]`; `NovalabInfoNceGrad` (also `lse`, `dy`) →
 * `[dS [B, B], ds [1], db [1]]`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { runCustomGradOp, webgpuKernelConfigs } from "./custom_grad.ts";
import {
  infoNceGradGroups,
  NovalabInfoNceFinishProgram,
  NovalabInfoNceGradFinishProgram,
  NovalabInfoNceGradProgram,
  NovalabInfoNceLseProgram,
} from "./infonce_programs.ts";
import { runWithExtraOutputs } from "./extra_outputs.ts";

/** Kernel name of the forward pass. */
export const INFONCE = "NovalabInfoNce";
/** Kernel name of the backward pass. */
export const INFONCE_GRAD = "NovalabInfoNceGrad";

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
}

const WHERE = "kernels/infonce.ts";
const sizeOf = (t: TensorInfo) => tf.util.sizeFromShape(t.shape);
const flat = (t: TensorInfo) => ({ ...t, shape: [sizeOf(t)] });

/** The checked operands and the uniforms `[B, groups]`. */
function operands(args: Args, groups: (batch: number) => number) {
  const { sim, scale, bias } = args.inputs;
  const batch = sim?.shape[0] ?? 0;
  if (!sim || sim.dtype !== "float32" || sim.shape.length !== 2 || sim.shape[1] !== batch) {
    throw new Error(
      `${WHERE}: sim must be a float32 square matrix [B, B], got ` +
        (sim ? `${sim.dtype} [${sim.shape.join(", ")}]` : "nothing"),
    );
  }
  for (const [name, t] of [["scale", scale], ["bias", bias]] as const) {
    if (!t || t.dtype !== "float32" || sizeOf(t) !== 1) {
      throw new Error(`${WHERE}: ${name} must be one float32 element`);
    }
  }
  const targets = args.inputs["targets"];
  if (targets && (targets.dtype !== "float32" || targets.shape.join() !== `${batch},${batch}`)) {
    throw new Error(
      `${WHERE}: targets must be float32 [${batch}, ${batch}] like sim, got ` +
        `${targets.dtype} [${targets.shape.join(", ")}]`,
    );
  }
  const int = (v: number) => ({ type: "int32", data: [v] });
  return {
    backend: args.backend as WebGPUBackend,
    batch,
    inputs: [flat(sim), flat(scale!), flat(bias!)],
    targets: targets ? [flat(targets)] : [],
    uniforms: [int(batch), int(groups(batch))],
  };
}

function runForward(args: Args): TensorInfo[] {
  const { backend, batch, inputs, targets, uniforms } = operands(args, () => 1);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const lse = backend.runWebGPUProgram(
    new NovalabInfoNceLseProgram(batch, limit),
    inputs,
    "float32",
    uniforms,
  );
  const loss = backend.runWebGPUProgram(
    new NovalabInfoNceFinishProgram(targets.length > 0),
    [...inputs, lse, ...targets],
    "float32",
    uniforms,
  );
  return [loss, lse];
}

function runBackward(args: Args): TensorInfo[] {
  const { backend, batch, inputs, targets, uniforms } = operands(args, infoNceGradGroups);
  const { lse, dy } = args.inputs;
  if (!lse || sizeOf(lse) !== 2 * batch || !dy || sizeOf(dy) !== 1) {
    throw new Error(`${WHERE}: the gradient needs lse [2B] from the forward pass and one dy`);
  }
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const [dSim, partials] = runWithExtraOutputs(
    backend,
    new NovalabInfoNceGradProgram(batch, limit, targets.length > 0),
    [...inputs, flat(lse), flat(dy), ...targets],
    [[2 * infoNceGradGroups(batch)]],
    uniforms,
  );
  try {
    const [dScale, dBias] = runWithExtraOutputs(
      backend,
      new NovalabInfoNceGradFinishProgram(),
      [partials!],
      [[1]],
      uniforms,
    );
    return [{ ...dSim!, shape: [batch, batch] }, dScale!, dBias!];
  } finally {
    backend.disposeData(partials!.dataId);
  }
}

/** Kernel configs of both passes (webgpu). */
export function infoNceKernelConfigs(): KernelConfig[] {
  return webgpuKernelConfigs({ [INFONCE]: runForward, [INFONCE_GRAD]: runBackward });
}

/**
 * The symmetric InfoNCE of the similarity matrix `sim` `[B, B]` (row i's
 * match in column i, or the target weights `targets` `[B, B]`, a constant)
 * under logit scale `scale` and bias `bias` (one-element
 * tensors; their gradients are returned too). Needs novalab's WebGPU kernels.
 */
export function infoNceFromSimilarity(
  sim: Tensor,
  scale: Tensor,
  bias: Tensor,
  targets?: Tensor,
): Scalar {
  const extra: Record<string, Tensor> = targets ? { targets } : {};
  return runCustomGradOp<Tensor>({
    inputs: { sim, scale, bias },
    forwardFunc: (_backend, save) => {
      const [loss, lse] = tf.engine().runKernel(INFONCE, {
        sim,
        scale,
        bias,
        ...extra,
      }) as Tensor[];
      save([sim, scale, bias, lse!, ...(targets ? [targets] : [])]);
      lse!.dispose();
      const scalar = loss!.reshape([]);
      loss!.dispose();
      return scalar;
    },
    backwardsFunc: (dy, saved) => {
      const [s, sc, b, lse, w] = saved;
      // Every gradient at once, eagerly (a lazy closure's tensors die with its own tidy).
      const [dSim, dScale, dBias] = tf.engine().runKernel(INFONCE_GRAD, {
        sim: s!,
        scale: sc!,
        bias: b!,
        lse: lse!,
        dy,
        ...(w ? { targets: w } : {}),
      }) as Tensor[];
      return {
        sim: () => dSim!,
        scale: () => dScale!.reshape(sc!.shape),
        bias: () => dBias!.reshape(b!.shape),
      };
    },
  }) as Scalar;
}
