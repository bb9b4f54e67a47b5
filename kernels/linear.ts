/**
 * A linear layer as one tfjs kernel on WebGPU, `NovalabLinear`:
 * `y = act(x·W + b) + r` for `act ∈ {linear, relu}`, with a gradient of its own;
 * the residual `r` (a transformer block's skip connection) is optional and
 * only taken with `act = linear`.
 *
 * Why a kernel of its own: tfjs's `fused.matMul` stops fusing a ReLU while
 * gradients are recorded, and its gradient sums the bias gradient with a
 * transpose and a reduction. Here the forward pass is one matmul dispatch with
 * the bias and ReLU in its epilogue, and the backward pass is at most three:
 * `dZ = dY ⊙ [y > 0]` (ReLU only), `dX = dZ·Wᵀ` (only when x needs a
 * gradient: it is skipped for a patch embedding's pixels), and `dW = Xᵀ·dZ`
 * with the bias gradient `Σ_rows dZ` from the same dispatch
 * (`runNovalabMatMulWithColumnSums`). Where that variant does not apply
 * (f16 staging) the bias gradient is a plain `tf.sum`.
 *
 * The residual add costs nothing extra: it happens in the matmul's epilogue
 * (no separate add dispatch, no extra pass over the activations), and its
 * gradient is `dY` itself (a new handle on the same buffer, no dispatch).
 *
 * Inputs `weight` `[in, out]`, optional `bias` `[out]`, optional `residual`
 * `[rows, out]`, `x` `[rows, in]` (in that order: tfjs asks for input
 * gradients in input order, so `x`'s comes last and can release `dZ`); attrs
 * `activation`, `hasBias`, `weightsTrainable` (when false the weight and bias
 * gradients are left to their own lazy functions).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type {
  GradConfig,
  KernelConfig,
  KernelFunc,
  NamedAttrMap,
  TensorInfo,
} from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Tensor } from "../core/tensor.ts";
import { runNovalabMatMul, runNovalabMatMulWithColumnSums } from "./matmul.ts";
import { runActivationGrad } from "./activation_grad.ts";

/** Kernel name of the fused linear layer. */
export const LINEAR = "NovalabLinear";
/** Kernel name of `dY ⊙ [y > 0]`. */
export const RELU_GRAD = "NovalabReluGrad";

/** Activations {@linkcode LINEAR} applies in its epilogue. */
export type LinearActivation = "linear" | "relu";

const WHERE = "kernels/linear.ts";

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function runReluGrad(args: Args): TensorInfo {
  const { dy, y } = args.inputs;
  return runActivationGrad(args.backend as WebGPUBackend, dy, y, "relu", `${WHERE}: ${RELU_GRAD}`);
}

function runLinear(args: Args): TensorInfo {
  const { x, weight, bias, residual } = args.inputs;
  const activation = String(args.attrs?.["activation"] ?? "linear");
  if (!x || !weight || x.shape.length !== 2 || weight.shape.length !== 2) {
    throw new Error(`${WHERE}: ${LINEAR} needs x [rows, in] and weight [in, out]`);
  }
  if (activation !== "linear" && activation !== "relu") {
    throw new Error(`${WHERE}: ${LINEAR} activation '${activation}'; valid: linear, relu`);
  }
  const backend = args.backend as WebGPUBackend;
  if (residual) {
    const outShape = [x.shape[0]!, weight.shape[1]!];
    if (activation !== "linear" || !tf.util.arraysEqual(residual.shape, outShape)) {
      throw new Error(
        `${WHERE}: ${LINEAR} residual [${residual.shape}] needs activation linear and shape ` +
          `[${outShape}]`,
      );
    }
    const out = runNovalabMatMul(backend, x, weight, {
      transposeA: false,
      transposeB: false,
      bias: bias ?? null,
      residual,
    });
    if (out) return out;
  }
  // The installed _FusedMatMul: novalab's kernel, falling back to tfjs's own.
  const fused = tf.getKernel("_FusedMatMul", "webgpu")!.kernelFunc;
  const y = fused({
    inputs: { a: x, b: weight, ...(bias ? { bias } : {}) },
    backend: backend as unknown as tf.KernelBackend,
    attrs: { transposeA: false, transposeB: false, activation },
  }) as TensorInfo;
  if (!residual) return y;
  // Outside the novalab matmul's coverage: a separate add.
  const add = tf.getKernel("Add", "webgpu")!.kernelFunc;
  const sum = add({
    inputs: { a: y, b: residual },
    backend: backend as unknown as tf.KernelBackend,
  });
  backend.disposeData(y.dataId);
  return sum as TensorInfo;
}

/** `[dW, db]` from one dispatch where the matmul variant applies, else two ops. */
function weightAndBiasGrads(x: Tensor, dz: Tensor, withBias: boolean): [Tensor, Tensor | null] {
  if (withBias) {
    const out = runNovalabMatMulWithColumnSums(tf.backend() as WebGPUBackend, x, dz, {
      transposeA: true,
      transposeB: false,
    });
    if (out) {
      const [dw, db] = out.map((info) => tf.engine().makeTensorFromTensorInfo(info) as Tensor);
      return [dw!, db!];
    }
  }
  return [tf.matMul(x, dz, true, false), withBias ? tf.sum(dz, 0) : null];
}

/**
 * The weight, bias and input gradients of `z = x·W + b` from `dz` (lazy
 * closures in tfjs's gradient-map form; with `weightsTrainable` dW and db come
 * eagerly from one dispatch). `ownsDz`: `dz` was made for this layer and is
 * released once dX, asked for last, is computed.
 */
export function linearGrads(
  dz: Tensor,
  x: Tensor,
  weight: Tensor,
  o: { withBias: boolean; weightsTrainable: boolean; ownsDz: boolean },
): { weight: () => Tensor; bias: () => Tensor; x: () => Tensor } {
  const eager = o.weightsTrainable ? weightAndBiasGrads(x, dz, o.withBias) : null;
  return {
    weight: () => eager ? eager[0] : tf.matMul(x, dz, true, false),
    bias: () => eager?.[1] ?? tf.sum(dz, 0),
    x: () => {
      const dx = tf.matMul(dz, weight, false, true);
      if (o.ownsDz && eager) dz.dispose(); // x comes last; nothing else needs dZ now
      return dx;
    },
  };
}

/** The gradient of {@linkcode LINEAR}. */
export const linearGradConfig: GradConfig = {
  kernelName: LINEAR,
  inputsToSave: ["weight", "x"],
  outputsToSave: [true],
  gradFunc: (dy, saved, attrs) => {
    const [weight, x, y] = saved as [Tensor, Tensor, Tensor];
    const g = dy as Tensor;
    const relu = attrs["activation"] === "relu";
    const dz = relu ? tf.engine().runKernel(RELU_GRAD, { dy: g, y }) as Tensor : g;
    return {
      ...linearGrads(dz, x, weight, {
        withBias: attrs["hasBias"] === true,
        weightsTrainable: attrs["weightsTrainable"] === true,
        ownsDz: relu,
      }),
      residual: () => tf.clone(g),
    };
  },
};

/** Kernel configs of the fused linear layer (webgpu). */
export function linearKernelConfigs(): KernelConfig[] {
  return [
    { kernelName: LINEAR, backendName: "webgpu", kernelFunc: runLinear as unknown as KernelFunc },
    {
      kernelName: RELU_GRAD,
      backendName: "webgpu",
      kernelFunc: runReluGrad as unknown as KernelFunc,
    },
  ];
}

/**
 * `act(x·W + b) + residual` through {@linkcode LINEAR} (novalab's WebGPU
 * kernels must be installed and active). `x` is `[rows, in]`, `residual`
 * (optional, only with `activation` `linear`) `[rows, out]`.
 */
export function fusedLinear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  activation: LinearActivation,
  weightsTrainable: boolean,
  residual?: Tensor,
): Tensor {
  const inputs: Record<string, Tensor> = { weight };
  if (bias) inputs["bias"] = bias;
  if (residual) inputs["residual"] = residual;
  inputs["x"] = x;
  const attrs = { activation, weightsTrainable, hasBias: bias !== undefined };
  return tf.engine().runKernel(LINEAR, inputs, attrs as unknown as NamedAttrMap) as Tensor;
}
