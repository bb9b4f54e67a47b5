/**
 * nCLIP's prototype head (arXiv 2210.09304, DESIGN §5): a weight-normalised
 * linear layer without bias that scores an embedding against `Kp` learnable
 * prototypes by cosine similarity,
 *
 *   logits[..., k] = ⟨x / ‖x‖, v_k / ‖v_k‖⟩ ∈ [−1, 1],
 *
 * with prototype directions `v` `[D, Kp]` (parameter `<name>.prototypes`, one
 * column per prototype) and the weight-norm gain fixed to 1 (as DINO's last
 * layer). Input `[..., D]` (normalised here, so an already unit input is left
 * unchanged), output `[..., Kp]`. Temperatures belong to the nCLIP loss, which
 * turns these logits into distributions. The directions are not weight-decayed
 * (decay would only shrink `‖v‖`, which the normalisation ignores, and raise
 * the effective step size).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import { disposeParameters, ParameterStore } from "./layers.ts";
import { matmul } from "./matmul.ts";
import { l2Normalize } from "./simple.ts";
import type { Tensor, Tensor2D, Variable } from "../core/tensor.ts";

/** Shape of a {@link PrototypeHead}. */
export interface PrototypeHeadOptions {
  /** Input width `D`. */
  inDim: number;
  /** Number of prototypes `Kp` (paper: 32768). */
  prototypes: number;
}

/** Cosine logits over `Kp` prototypes: `[..., D]` → `[..., Kp]`. */
export class PrototypeHead implements Module {
  /** The prototype directions `[D, Kp]` (no weight decay). */
  readonly parameters: Parameter[];
  readonly #v: Variable;

  /** Creates `Kp` random unit-direction prototypes under `init.name`. */
  constructor(readonly options: PrototypeHeadOptions, init: { name: string; seed: number }) {
    const store = new ParameterStore(init.name, init.seed);
    const shape = [options.inDim, options.prototypes];
    this.#v = store.add(
      "prototypes",
      store.truncNormal(shape, 1 / Math.sqrt(options.inDim)),
      false,
    );
    this.parameters = store.parameters;
  }

  /** `[..., D]` → cosine logits `[..., Kp]`. */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    const x = inputs[0] as Tensor;
    const { inDim, prototypes } = this.options;
    const unit = l2Normalize(x).reshape([-1, inDim]) as Tensor2D;
    const columns = tf.div(
      this.#v,
      tf.sqrt(tf.maximum(tf.sum(tf.square(this.#v), 0, true), 1e-24)),
    );
    return matmul(unit, columns).reshape([...x.shape.slice(0, -1), prototypes]);
  }

  /** Releases the variable. */
  dispose(): void {
    disposeParameters(this.parameters);
  }
}
