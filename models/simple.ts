/**
 * Small parameter-light graph nodes: the learnable logit scale of CLIP-style
 * losses and L2 normalisation.
 *
 * @module
 */
import { assignInPlace } from "../kernels/in_place.ts";
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import { disposeParameters, ParameterStore } from "./layers.ts";
import type { Tensor, Variable } from "../core/tensor.ts";
import { l2Normalize } from "../kernels/l2_normalize.ts";

/**
 * A learnable scalar θ in log space (scale = exp θ), clamped to `[min, max]`
 * after every optimiser step (open_clip: θ₀ = ln(1/0.07), clamp [0, ln 100]).
 * Output: the scalar θ (losses take exp).
 */
export class LogitScale implements Module {
  /** The single parameter `<name>.value` (no weight decay). */
  readonly parameters: Parameter[];
  readonly #value: Variable;

  /** Creates θ = `init`, clamped to `clamp` after each step. */
  constructor(
    readonly options: { init: number; clamp: [number, number]; learnable: boolean },
    init: { name: string; seed: number },
  ) {
    const store = new ParameterStore(init.name, init.seed);
    this.#value = store.add("value", tf.scalar(options.init), false);
    this.parameters = options.learnable ? store.parameters : [];
  }

  /** Returns θ (a scalar). */
  forward(_inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    return this.#value;
  }

  /** Clamps θ into `[min, max]`. */
  afterStep(): void {
    const [lo, hi] = this.options.clamp;
    tf.tidy(() => assignInPlace(this.#value, tf.clipByValue(this.#value, lo, hi)));
  }

  /** Releases the variable. */
  dispose(): void {
    this.#value.dispose();
  }
}

/** Divides `[..., D]` by its L2 norm over the last axis (ε = 1e-12 guard; fused on WebGPU). */
export { l2Normalize };

/** A node that L2-normalises its input over the last axis. */
export class L2Normalize implements Module {
  /** No parameters. */
  readonly parameters: Parameter[] = [];

  /** `[..., D]` → unit-norm `[..., D]`. */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    return l2Normalize(inputs[0] as Tensor);
  }

  /** Nothing to release. */
  dispose(): void {
    disposeParameters(this.parameters);
  }
}
