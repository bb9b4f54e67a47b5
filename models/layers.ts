/**
 * Parameter-owning building blocks shared by the models: linear layers, layer
 * norm, GELU and initialisers. Everything is plain tfjs ops except on WebGPU
 * with novalab's kernels: layer norm runs the fused kernels
 * (`kernels/layernorm.ts`) and a linear layer is one `tf.fused.matMul` with the
 * bias (and a ReLU) in the matmul's epilogue; and on WASM with novalab's WASM
 * kernels (`kernels/wasm_*.ts`, on unless `NOVALAB_WASM_KERNELS=0`): a linear
 * layer is one SIMD GEMM with the bias (and a ReLU) in its epilogue and layer
 * norm is one fused kernel forward and one backward.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Parameter } from "../core/types.ts";
import { matmul } from "./matmul.ts";
import { layerNorm, layerNormWithSkip } from "../kernels/layernorm.ts";
import { novalabKernelsActive } from "../kernels/install.ts";
import { wasmKernelsActive } from "../kernels/wasm_runtime.ts";
import { wasmLinear } from "../kernels/wasm_matmul.ts";
import { fusedLinear } from "../kernels/linear.ts";
import { geluLinear } from "../kernels/linear_gelu.ts";
import { fusedMlp } from "../kernels/mlp.ts";
import { wasmLayerNorm } from "../kernels/wasm_layernorm.ts";
import { wasmGelu } from "../kernels/wasm_gelu.ts";
import type { Tensor, Tensor2D, Variable } from "../core/tensor.ts";

/** Collects parameters while a module is being built. */
export class ParameterStore {
  /** Parameters created so far, in creation order. */
  readonly parameters: Parameter[] = [];
  #counter = 0;

  /** @param prefix Name prefix (the node name). @param seed Initialisation seed. */
  constructor(readonly prefix: string, readonly seed: number) {}

  /** Creates a variable named `<prefix>.<name>` holding `value`. */
  add(name: string, value: Tensor, decay: boolean): Variable {
    const fullName = `${this.prefix}.${name}`;
    const variable = tf.variable(value, true);
    value.dispose();
    this.parameters.push({ name: fullName, variable, decay });
    return variable;
  }

  /** A fresh deterministic seed for the next initialiser. */
  nextSeed(): number {
    this.#counter += 1;
    return (this.seed * 1_000_003 + this.#counter * 7919) % 2_147_483_647;
  }

  /** Truncated normal (±2σ), the ViT/timm default for weights and embeddings. */
  truncNormal(shape: number[], std: number): Tensor {
    return tf.truncatedNormal(shape, 0, std, "float32", this.nextSeed());
  }
}

/** A fully connected layer `y = x W + b` with `W` `[in, out]`. */
export interface Linear {
  /** Weight `[in, out]`. */
  weight: Variable;
  /** Bias `[out]` (absent when built without bias). */
  bias?: Variable;
}

/** Creates a linear layer (weights trunc-normal σ = 0.02, zero bias). */
export function createLinear(
  store: ParameterStore,
  name: string,
  options: { inDim: number; outDim: number; bias?: boolean; std?: number },
): Linear {
  const weight = store.add(
    `${name}.weight`,
    store.truncNormal([options.inDim, options.outDim], options.std ?? 0.02),
    true,
  );
  if (options.bias === false) return { weight };
  return { weight, bias: store.add(`${name}.bias`, tf.zeros([options.outDim]), false) };
}

/** Activations {@linkcode applyLinear} fuses into the matmul epilogue (tfjs `_FusedMatMul` names). */
const FUSABLE: Record<string, "linear" | "relu" | "gelu"> = {
  identity: "linear",
  relu: "relu",
  gelu: "gelu",
};

/**
 * Applies a linear layer to `[..., in]`, returning `[..., out]`, followed by
 * `activation` (a name in {@linkcode ACTIVATIONS}; none by default), plus
 * `residual` (`[..., out]`, a skip connection; none by default).
 *
 * On WebGPU with novalab's kernels it is one `NovalabLinear` kernel
 * (`kernels/linear.ts`; `kernels/linear_gelu.ts` for `gelu`): the bias, and
 * the activation when it is `relu`, `gelu` or `identity`, are applied in the
 * matmul's epilogue (one dispatch instead of two to six, also while gradients
 * are recorded), and its gradient gets the weight and bias gradients from one
 * dispatch; without an activation or with `gelu` the
 * residual is added in the same epilogue too; other activations follow as
 * ops. On WASM with novalab's WASM kernels it is likewise one GEMM with the
 * bias and a `relu` in the epilogue (`kernels/wasm_matmul.ts`). Elsewhere (CPU,
 * stock WebGPU kernels) it is the matmul of `models/matmul.ts`, a bias add,
 * then the activation, exactly as before.
 */
export function applyLinear(
  layer: Linear,
  x: Tensor,
  activation?: string,
  residual?: Tensor,
): Tensor {
  const act = activation === undefined ? undefined : ACTIVATIONS[activation];
  if (activation !== undefined && !act) {
    throw new Error(
      `models/layers.ts: applyLinear activation '${activation}' is unknown; ` +
        `valid: ${Object.keys(ACTIVATIONS).join(", ")}`,
    );
  }
  const [inDim, outDim] = layer.weight.shape as [number, number];
  const lead = x.shape.slice(0, -1) as number[];
  const flat = x.rank === 2 ? x as Tensor2D : x.reshape([-1, inDim]) as Tensor2D;
  if (residual && !tf.util.arraysEqual(residual.shape, [...lead, outDim])) {
    throw new Error(
      `models/layers.ts: applyLinear residual has shape [${residual.shape}], expected ` +
        `[${[...lead, outDim]}] (the output's)`,
    );
  }
  let y: Tensor;
  let pending = residual; // still to be added after the layer
  if (novalabKernelsActive() && x.dtype === "float32") {
    const fused = activation === undefined ? "linear" : FUSABLE[activation];
    const fuseResidual = residual !== undefined && (fused === "linear" || fused === "gelu");
    const flatResidual = fuseResidual ? residual.reshape([-1, outDim]) : undefined;
    y = fused === "gelu"
      ? geluLinear(flat, layer.weight, layer.bias, layer.weight.trainable, flatResidual)
      : fusedLinear(
        flat,
        layer.weight,
        layer.bias,
        fused ?? "linear",
        layer.weight.trainable,
        flatResidual,
      );
    if (act && !fused) y = act(y);
    if (fuseResidual) pending = undefined;
  } else if (wasmKernelsActive() && x.dtype === "float32") {
    const relu = activation === "relu";
    y = wasmLinear(flat, layer.weight, layer.bias, relu);
    if (act && !relu && activation !== "identity") y = act(y);
  } else {
    y = matmul(flat, layer.weight);
    if (layer.bias) y = tf.add(y, layer.bias);
    if (act) y = act(y);
  }
  const shaped = x.rank === 2 ? y : y.reshape([...lead, outDim]);
  return pending ? tf.add(shaped, pending) : shaped;
}

/**
 * A transformer MLP `fc2(act(fc1(x))) + residual` over `[..., in]`. On WebGPU
 * with novalab's kernels and `relu` or `gelu` it is one op
 * (`kernels/mlp.ts`) whose backward pass folds the activation's gradient into
 * the hidden layer's gradient matmul; elsewhere it is the two
 * {@linkcode applyLinear} calls it stands for, with the same values.
 */
export function applyMlp(
  fc1: Linear,
  fc2: Linear,
  x: Tensor,
  activation: string,
  residual?: Tensor,
): Tensor {
  const fused = (activation === "relu" || activation === "gelu") && novalabKernelsActive() &&
    x.dtype === "float32" && fc1.weight.trainable === fc2.weight.trainable;
  if (!fused) return applyLinear(fc2, applyLinear(fc1, x, activation), undefined, residual);
  const inDim = fc1.weight.shape[0]!, outDim = fc2.weight.shape[1]!;
  const lead = x.shape.slice(0, -1) as number[];
  if (residual && !tf.util.arraysEqual(residual.shape, [...lead, outDim])) {
    throw new Error(
      `models/layers.ts: applyMlp residual has shape [${residual.shape}], expected ` +
        `[${[...lead, outDim]}] (the output's)`,
    );
  }
  const y = fusedMlp(
    x.reshape([-1, inDim]),
    {
      w1: fc1.weight,
      ...(fc1.bias ? { b1: fc1.bias } : {}),
      w2: fc2.weight,
      ...(fc2.bias ? { b2: fc2.bias } : {}),
      trainable: fc1.weight.trainable,
    },
    activation,
    residual?.reshape([-1, outDim]),
  );
  return y.reshape([...lead, outDim]);
}

/** Layer-norm parameters over the last axis. */
export interface LayerNorm {
  /** Scale `[D]` (ones at init). */
  weight: Variable;
  /** Shift `[D]` (zeros at init). */
  bias: Variable;
  /** Variance epsilon. */
  eps: number;
}

/** Creates a layer norm over a last axis of width `dim` (variance epsilon `eps`, timm's 1e-6). */
export function createLayerNorm(
  store: ParameterStore,
  name: string,
  dim: number,
  eps = 1e-6,
): LayerNorm {
  return {
    weight: store.add(`${name}.weight`, tf.ones([dim]), false),
    bias: store.add(`${name}.bias`, tf.zeros([dim]), false),
    eps,
  };
}

/**
 * Applies layer norm over the last axis of `x`: the fused WGSL kernels on
 * WebGPU, the fused WASM kernels on WASM (`kernels/wasm_layernorm.ts`), the
 * unchanged op composition elsewhere (`kernels/layernorm.ts`).
 */
export function applyLayerNorm(norm: LayerNorm, x: Tensor): Tensor {
  if (wasmKernelsActive() && x.dtype === "float32") {
    return wasmLayerNorm(x, norm.weight, norm.bias, norm.eps);
  }
  return layerNorm(x, norm.weight, norm.bias, norm.eps);
}

/**
 * Layer norm of `x` at the start of a pre-LN residual branch `x + f(LN(x))`:
 * returns `[LN(x), skip]`, `skip` being `x` for the branch's end (pass it as
 * {@linkcode applyLinear}'s `residual`). Same values as
 * {@linkcode applyLayerNorm}; on WebGPU with novalab's kernels the skip's
 * gradient is summed inside the LayerNorm's dx dispatch
 * (`kernels/layernorm.ts` `layerNormWithSkip`).
 */
export function applyLayerNormWithSkip(norm: LayerNorm, x: Tensor): [Tensor, Tensor] {
  if (wasmKernelsActive() && x.dtype === "float32") {
    return [wasmLayerNorm(x, norm.weight, norm.bias, norm.eps), x];
  }
  return layerNormWithSkip(x, norm.weight, norm.bias, norm.eps);
}

const SQRT_HALF = Math.SQRT1_2;

/**
 * GELU, exact form `0.5 · x · (1 + erf(x / √2))`: one fused kernel forward and
 * one backward on WASM with novalab's WASM kernels (`kernels/wasm_gelu.ts`),
 * the op composition elsewhere.
 */
export function gelu(x: Tensor): Tensor {
  if (wasmKernelsActive() && x.dtype === "float32") return wasmGelu(x);
  return tf.mul(tf.mul(x, 0.5), tf.add(tf.erf(tf.mul(x, SQRT_HALF)), 1));
}

/** QuickGELU `x · σ(1.702 x)`, the approximation OpenAI's CLIP was trained with. */
export function quickGelu(x: Tensor): Tensor {
  return tf.mul(x, tf.sigmoid(tf.mul(x, 1.702)));
}

const TANH_GELU_SCALE = Math.sqrt(2 / Math.PI);

/**
 * GELU's tanh approximation `0.5 · x · (1 + tanh(√(2/π) · (x + 0.044715 x³)))`
 * (PyTorch's `gelu(approximate="tanh")`, timm's `gelu_tanh`): what BERT,
 * GPT-2 and SigLIP (JAX's default `nn.gelu`) were trained with.
 */
export function geluTanh(x: Tensor): Tensor {
  return tf.tidy(() => {
    const cube = tf.mul(tf.mul(x, x), x);
    const inner = tf.mul(tf.add(x, tf.mul(cube, 0.044715)), TANH_GELU_SCALE);
    return tf.mul(tf.mul(x, 0.5), tf.add(tf.tanh(inner), 1));
  });
}

/** Activation functions a recipe may name. */
export const ACTIVATIONS: Record<string, (x: Tensor) => Tensor> = {
  gelu,
  quick_gelu: quickGelu,
  gelu_tanh: geluTanh,
  relu: (x) => tf.relu(x),
  tanh: (x) => tf.tanh(x),
  identity: (x) => x,
};

/** Releases every variable in `parameters`. */
export function disposeParameters(parameters: Parameter[]): void {
  for (const p of parameters) p.variable.dispose();
}
