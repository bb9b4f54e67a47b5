/**
 * Multi-layer perceptron used as projector and predictor heads:
 * `Linear → [LayerNorm] → act → … → Linear` over the last axis.
 * Input `[..., Din]`, output `[..., layers.at(-1)]`.
 *
 * @module
 */
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import { BatchNorm } from "./batchnorm.ts";
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
import type { Tensor } from "../core/tensor.ts";

/** Options of an {@link Mlp}. */
export interface MlpOptions {
  /** Input width. */
  inDim: number;
  /** Output width of each layer; the last one is the output width. */
  layers: number[];
  /** Activation between layers (`gelu`, `relu`, `tanh`, `identity`). */
  activation: string;
  /** Normalisation after each hidden linear layer: `none`, `layer` or `batch`. */
  norm: "none" | "layer" | "batch";
  /** Bias on every linear layer. */
  bias: boolean;
}

/**
 * An MLP module; parameters `layers.<i>.weight|bias`, `norms.<i>.weight|bias`
 * (and, with batch norm, buffers `norms.<i>.running_mean|running_var`).
 */
export class Mlp implements Module {
  /** Trainable parameters. */
  readonly parameters: Parameter[];
  readonly #linears: Linear[] = [];
  readonly #norms: LayerNorm[] = [];
  readonly #batchNorms: BatchNorm[] = [];
  /** BatchNorm running statistics (empty unless `norm: batch`). */
  readonly buffers: Parameter[];
  readonly #activation: (x: Tensor) => Tensor;

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
      if (i < options.layers.length - 1) {
        if (options.norm === "layer") {
          this.#norms.push(createLayerNorm(store, `norms.${i}`, outDim));
        }
        if (options.norm === "batch") {
          this.#batchNorms.push(new BatchNorm(store, `norms.${i}`, { dim: outDim }));
        }
      }
      width = outDim;
    });
    this.#activation = ACTIVATIONS[options.activation]!;
    this.parameters = store.parameters;
    this.buffers = this.#batchNorms.flatMap((b) => b.buffers);
  }

  /** `[..., Din]` → `[..., Dout]`. */
  forward(inputs: NodeValue[], ctx: ForwardContext): Tensor {
    let x = inputs[0] as Tensor;
    const last = this.#linears.length - 1;
    const { norm, activation } = this.options;
    this.#linears.forEach((layer, i) => {
      if (i === last) {
        x = applyLinear(layer, x);
      } else if (norm === "batch") {
        // The norm applies the activation too: one fused kernel each way on WebGPU.
        const norm = this.#batchNorms[i]!;
        const keep = { remember: ctx.statistics !== false, micro: ctx.micro };
        x = norm.apply(applyLinear(layer, x), ctx.training, activation, keep);
      } else if (norm === "layer") {
        x = this.#activation(applyLayerNorm(this.#norms[i]!, applyLinear(layer, x)));
      } else {
        x = applyLinear(layer, x, activation); // in the matmul's epilogue where fusable
      }
    });
    return x;
  }

  /** Folds batch statistics into BatchNorm running estimates (kept where `guard` says skipped). */
  afterStep(guard?: Tensor): void {
    for (const b of this.#batchNorms) b.afterStep(guard);
  }

  /** Forgets the batch norms' last training batch statistics. */
  dropBatchStatistics(): void {
    for (const b of this.#batchNorms) b.dropBatchStatistics();
  }

  /** Releases all variables. */
  dispose(): void {
    for (const b of this.#batchNorms) b.dispose();
    disposeParameters(this.parameters);
  }
}
