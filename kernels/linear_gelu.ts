/**
 * A GELU linear layer on WebGPU, `y = gelu(x·W + b) [+ r]` with the exact
 * `gelu(z) = 0.5·z·(1 + erf(z/√2))` (the ViT default, timm's `nn.GELU`).
 *
 * Forward: one matmul dispatch that applies the GELU in its epilogue and also
 * writes the pre-activation `z`, kept for the backward pass. Backward:
 * `dZ = dY ⊙ gelu'(z)` in one `NovalabGeluGrad` dispatch
 * (`gelu'(z) = 0.5·(1 + erf(z/√2)) + z·exp(−z²/2)/√(2π)`), then dX, dW and
 * the bias gradient as in `kernels/linear.ts`. The op composition took 5
 * dispatches forward and about 10 backward over the MLP's widest activation.
 * `erf` is Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5·10⁻⁷), as in
 * tfjs's erf kernels and `kernels/wasm_gelu.ts`.
 *
 * Built on `tf.engine()`'s custom-gradient entry (what `tf.customGrad` uses),
 * so `z` is saved without being an output: a second output would get a
 * zero-filled gradient made on the CPU every step.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Tensor } from "../core/tensor.ts";
import { runNovalabMatMulWithPreActivation } from "./matmul.ts";
import { runActivationGrad } from "./activation_grad.ts";
import { runCustomGradOp } from "./custom_grad.ts";
import { linearGrads } from "./linear.ts";

/** Kernel name of `dY ⊙ gelu'(z)`. */
export const GELU_GRAD = "NovalabGeluGrad";

const WHERE = "kernels/linear_gelu.ts";

function runGeluGrad(args: { inputs: Record<string, TensorInfo | undefined>; backend: unknown }) {
  const { dy, z } = args.inputs;
  return runActivationGrad(args.backend as WebGPUBackend, dy, z, "gelu", `${WHERE}: ${GELU_GRAD}`);
}

/** Kernel config of the GELU gradient (webgpu). */
export function geluKernelConfigs(): KernelConfig[] {
  return [{
    kernelName: GELU_GRAD,
    backendName: "webgpu",
    kernelFunc: runGeluGrad as unknown as KernelFunc,
  }];
}

/**
 * `gelu(x·W + b) + residual` (novalab's WebGPU kernels must be installed and
 * active): `x` `[rows, in]`, `weight` `[in, out]`, optional `bias` `[out]` and
 * `residual` `[rows, out]`; differentiable in all of them.
 */
export function geluLinear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  weightsTrainable: boolean,
  residual?: Tensor,
): Tensor {
  const inputs: Record<string, Tensor> = { weight };
  if (bias) inputs["bias"] = bias;
  if (residual) inputs["residual"] = residual;
  inputs["x"] = x; // last: its gradient releases dZ
  return runCustomGradOp<Tensor>({
    inputs,
    forwardFunc: (backend, save) => {
      const out = runNovalabMatMulWithPreActivation(backend as WebGPUBackend, x, weight, {
        transposeA: false,
        transposeB: false,
        bias: bias ?? null,
        activation: "gelu",
        residual: residual ?? null,
      });
      if (!out) {
        throw new Error(
          `${WHERE}: a GELU linear layer of [${x.shape}]·[${weight.shape}] is outside novalab's ` +
            "matmul (dispatch limits); use the op composition",
        );
      }
      const [y, z] = out.map((info) => tf.engine().makeTensorFromTensorInfo(info) as Tensor);
      save([x, weight, z!]); // copies kept for the backward pass (none when not recording)
      z!.dispose();
      return y!;
    },
    backwardsFunc: (dy, saved) => {
      const [sx, sw, sz] = saved as [Tensor, Tensor, Tensor];
      const dz = tf.engine().runKernel(GELU_GRAD, { dy, z: sz }) as Tensor;
      return {
        ...linearGrads(dz, sx, sw, {
          withBias: bias !== undefined,
          weightsTrainable,
          ownsDz: true,
        }),
        residual: () => tf.clone(dy),
      };
    },
  });
}
