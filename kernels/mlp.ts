/**
 * A transformer block's MLP on WebGPU as one op with its own gradient:
 * `y = act(x·W1 + b1)·W2 + b2 [+ r]` for `act ∈ {relu, gelu}`.
 *
 * Forward: two matmul dispatches, the first with the bias and activation in
 * its epilogue (and, for GELU, the pre-activation `z` written beside it), the
 * second with the bias and the residual. Backward: the activation's gradient
 * rides in the epilogue of the hidden layer's gradient,
 * `dH = (dY·W2ᵀ) ⊙ act'(g)` with `g = h` (ReLU: `[h > 0]`) or `g = z` (GELU),
 * so no separate elementwise pass over the widest activation `[rows, 4·dim]`
 * remains (`kernels/linear.ts` and `kernels/linear_gelu.ts` need one); then
 * dW2 with db2, dW1 with db1 (one dispatch each, split along k when deep) and
 * dX. 4 matmul dispatches backward instead of 4 plus the activation gradient.
 *
 * Built on `tf.engine()`'s custom-gradient entry (what `tf.customGrad` uses),
 * so the hidden activation and `z` are saved without being outputs.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Tensor } from "../core/tensor.ts";
import { runNovalabMatMul, runNovalabMatMulWithPreActivation } from "./matmul.ts";
import { linearGrads } from "./linear.ts";
import { runCustomGradOp } from "./custom_grad.ts";

const WHERE = "kernels/mlp.ts";

/** Activations {@linkcode fusedMlp} fuses. */
export type MlpActivation = "relu" | "gelu";

/** The two layers of an MLP. */
export interface MlpWeights {
  /** `[in, hidden]`. */
  w1: Tensor;
  /** `[hidden]` or none. */
  b1?: Tensor;
  /** `[hidden, out]`. */
  w2: Tensor;
  /** `[out]` or none. */
  b2?: Tensor;
  /** Whether the weights train (eager dW/db in one dispatch each); else lazy. */
  trainable: boolean;
}

function covered<T extends TensorInfo | TensorInfo[]>(info: T | null, what: string): T {
  if (!info) {
    throw new Error(`${WHERE}: the ${what} is outside novalab's matmul (dispatch limits)`);
  }
  return info;
}

const asTensor = (info: TensorInfo) => tf.engine().makeTensorFromTensorInfo(info) as Tensor;

/** The forward pass: the hidden activation `h`, the tensor its gradient gates on, and `y`. */
function mlpForward(
  backend: WebGPUBackend,
  x: Tensor,
  layers: MlpWeights,
  activation: MlpActivation,
  residual?: Tensor,
): { y: Tensor; h: Tensor; gate: Tensor } {
  const first = { transposeA: false, transposeB: false, bias: layers.b1 ?? null, activation };
  let h: Tensor, gate: Tensor;
  if (activation === "gelu") {
    // GELU's gradient needs the pre-activation, written by the same dispatch.
    const out = covered(
      runNovalabMatMulWithPreActivation(backend, x, layers.w1, first),
      "hidden layer",
    );
    [h, gate] = out.map(asTensor) as [Tensor, Tensor];
  } else {
    h = asTensor(covered(runNovalabMatMul(backend, x, layers.w1, first), "hidden layer"));
    gate = h;
  }
  const y = asTensor(covered(
    runNovalabMatMul(backend, h, layers.w2, {
      transposeA: false,
      transposeB: false,
      bias: layers.b2 ?? null,
      residual: residual ?? null,
    }),
    "output layer",
  ));
  return { y, h, gate };
}

/**
 * The backward pass from the saved `[x, W1, W2, h, gate]`: the output layer's
 * gradients, `dH = (dY·W2ᵀ) ⊙ act'(gate)` in one dispatch, the hidden layer's.
 */
function mlpBackward(
  dy: Tensor,
  saved: Tensor[],
  layers: MlpWeights,
  activation: MlpActivation,
): Record<string, () => Tensor> {
  const [x, w1, w2, h, gate] = saved as [Tensor, Tensor, Tensor, Tensor, Tensor];
  const output = linearGrads(dy, h, w2, {
    withBias: layers.b2 !== undefined,
    weightsTrainable: layers.trainable,
    ownsDz: false,
  });
  const dHidden = asTensor(covered(
    runNovalabMatMul(tf.backend() as WebGPUBackend, dy, w2, {
      transposeA: false,
      transposeB: true,
      gate: { activation, input: gate },
    }),
    "hidden gradient",
  ));
  const hidden = linearGrads(dHidden, x, w1, {
    withBias: layers.b1 !== undefined,
    weightsTrainable: layers.trainable,
    ownsDz: true,
  });
  return {
    w1: hidden.weight,
    b1: hidden.bias,
    w2: output.weight,
    b2: output.bias,
    residual: () => tf.clone(dy),
    x: hidden.x,
  };
}

/**
 * `act(x·W1 + b1)·W2 + b2 + residual` (novalab's WebGPU kernels must be
 * installed and active): `x` `[rows, in]`, `residual` `[rows, out]` or none;
 * differentiable in x, the weights, biases and residual.
 */
export function fusedMlp(
  x: Tensor,
  layers: MlpWeights,
  activation: MlpActivation,
  residual?: Tensor,
): Tensor {
  const { w1, b1, w2, b2 } = layers;
  const inputs: Record<string, Tensor> = { w1 };
  if (b1) inputs["b1"] = b1;
  inputs["w2"] = w2;
  if (b2) inputs["b2"] = b2;
  if (residual) inputs["residual"] = residual;
  inputs["x"] = x; // last: its gradient releases dH
  return runCustomGradOp<Tensor>({
    inputs,
    forwardFunc: (backend, save) => {
      const { y, h, gate } = mlpForward(backend as WebGPUBackend, x, layers, activation, residual);
      save([x, w1, w2, h, gate]); // copies kept for the backward pass (none when not recording)
      return y;
    },
    backwardsFunc: (dy, saved) => mlpBackward(dy, saved as Tensor[], layers, activation),
  });
}
