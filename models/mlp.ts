/**
 * Multi-layer perceptron used as projector and predictor heads:
 * `Linear → [LayerNorm] → act → … → Linear` over the last axis.
 * Input `[..., Din]`, output `[..., layers.at(-1)]`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import {
  ACTIVATIONS,
  applyLayerNorm,
  applyLinear,
  createLayerNorm,
  createLinear,
  disposeParameters,
  type LayerNorm,
  type Linear,
  ParameterStore,
} from "./layers.ts";

/** Options of an {@link Mlp}. */
export interface MlpOptions {
  /** Input width. */
  inDim: number;
  /** Output width of each layer; the last one is the output width. */
  layers: number[];
  /** Activation between layers (`gelu`, `relu`, `tanh`, `identity`). */
  activation: string;
  /** Layer norm after each hidden linear layer. */
  norm: boolean;
  /** Bias on every linear layer. */
  bias: boolean;
}

/** An MLP module; parameters `layers.<i>.weight|bias`, `norms.<i>.weight|bias`. */
export class Mlp implements Module {
  /** Trainable parameters. */
  readonly parameters: Parameter[];
  readonly #linears: Linear[] = [];
  readonly #norms: LayerNorm[] = [];
  readonly #activation: (x: tf.Tensor) => tf.Tensor;

  /** Builds the layers under the prefix `init.name`. */
  constructor(readonly options: MlpOptions, init: { name: string; seed: number }) {
    const store = new ParameterStore(init.name, init.seed);
    let width = options.inDim;
    options.layers.forEach((outDim, i) => {
      // Kaiming-uniform-like scale keeps activations O(1) across depths.
      const std = 1 / Math.sqrt(width);
      this.#linears.push(
        createLinear(store, `layers.${i}`, { inDim: width, outDim, bias: options.bias, std }),
      );
      if (options.norm && i < options.layers.length - 1) {
        this.#norms.push(createLayerNorm(store, `norms.${i}`, outDim));
      }
      width = outDim;
    });
    this.#activation = ACTIVATIONS[options.activation]!;
    this.parameters = store.parameters;
  }

  /** `[..., Din]` → `[..., Dout]`. */
  forward(inputs: NodeValue[], _ctx: ForwardContext): tf.Tensor {
    let x = inputs[0] as tf.Tensor;
    const last = this.#linears.length - 1;
    this.#linears.forEach((layer, i) => {
      x = applyLinear(layer, x);
      if (i < last) {
        if (this.options.norm) x = applyLayerNorm(this.#norms[i]!, x);
        x = this.#activation(x);
      }
    });
    return x;
  }

  /** Releases all variables. */
  dispose(): void {
    disposeParameters(this.parameters);
  }
}
