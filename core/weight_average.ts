/**
 * An exponential moving average of the trained weights (`train.ema`): the
 * "model EMA" of timm's `ModelEmaV3`, BYOL's and DINO's teachers, and most
 * fine-tuning recipes. After every applied optimiser step each averaged
 * parameter's shadow moves towards it, `e ← e + (p − e)·(1 − d)` (timm's
 * `lerp_`), with `d` the decay, or with `warmup` `min(d, n / (n + 9))` at the
 * average's update `n` (1 for the first: TensorFlow's
 * `ExponentialMovingAverage` decay `min(d, (1 + k) / (10 + k))` with
 * `num_updates = k = n − 1`, so early averages do not hold on to the
 * initialisation). `n` is the optimiser's count of applied updates (the run's,
 * also for a node that starts training later), so a step the step guard
 * skipped moves neither the parameters nor their averages. Buffers may be
 * averaged too (the trainer averages batch norm's running statistics, as
 * timm does by default).
 *
 * On WebGPU with novalab's kernels one dispatch updates up to 16 parameters in
 * place (`core/average_update.ts`; 11 dispatches for a ViT-Ti), inside the
 * recorded step, gated by its report; elsewhere three ops per parameter. The
 * averages are checkpointed as `ema.<parameter>`; {@linkcode WeightAverage.swap}
 * exchanges them with the parameters in place (the variables keep their
 * buffers, which a replayed step needs), so evaluation reads averaged weights
 * and a second swap restores the trained ones exactly.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Parameter } from "./types.ts";
import type { Tensor, Variable } from "./tensor.ts";
import { hostValue } from "./host_value.ts";
import { assignInPlace } from "../kernels/in_place.ts";
import { type AveragePair, moveAverages } from "./average_update.ts";

/** Checkpoint key prefix of the averages (`ema.<parameter name>`). */
export const EMA_PREFIX = "ema.";

/** How the average moves (`train.ema` of a recipe). */
export interface WeightAverageOptions {
  /** Decay `d` in [0, 1): the share of the old average kept at each update. */
  decay: number;
  /** Ramp the decay as `min(d, n / (n + 9))` over the first updates (default false). */
  warmup?: boolean;
  /**
   * Adam's bias correction instead (default false): decay `1 − (1 − d)/(1 − dⁿ)`
   * at update `n`, which makes the average `Σₖ (1 − d)·d^(n−k)·pₖ / (1 − dⁿ)` over
   * the weights after updates 1…n — the initial weights weigh nothing.
   */
  debias?: boolean;
}

/** The decay of the average's update `n` (1 for the first). */
export function averageDecay(n: number, options: WeightAverageOptions): number {
  const { decay } = options;
  if (options.debias) return decay === 0 ? 0 : 1 - (1 - decay) / (1 - decay ** n);
  return options.warmup ? Math.min(decay, n / (n + 9)) : decay;
}

interface Member {
  param: Parameter;
  average: Variable;
}

/** Shadow weights averaged over training; see the module notes. */
export class WeightAverage {
  readonly #members: Member[];
  readonly #byName = new Map<string, Member>();
  readonly #pairs: AveragePair[];

  /**
   * Starts each parameter's average at its current value.
   *
   * @param params The averaged parameters (the optimiser's), names unique.
   * @param options The decay and its warm-up.
   */
  constructor(params: Parameter[], readonly options: WeightAverageOptions) {
    const { decay } = options;
    if (!(Number.isFinite(decay) && decay >= 0 && decay < 1)) {
      throw new RangeError(`WeightAverage: decay must be in [0, 1) (typical 0.999), got ${decay}`);
    }
    this.#members = params.map((param) => {
      if (this.#byName.has(param.name)) {
        throw new Error(`WeightAverage: duplicate parameter name '${param.name}'`);
      }
      // A copy computed into a buffer of its own: the fused update writes it in place.
      const average = tf.tidy(() => tf.variable(tf.mul(param.variable, tf.scalar(1)), false));
      const member = { param, average };
      this.#byName.set(param.name, member);
      return member;
    });
    this.#pairs = this.#members.map((m) => ({ average: m.average, source: m.param.variable }));
  }

  /** Names of the averaged parameters, in order. */
  get names(): string[] {
    return this.#members.map((m) => m.param.name);
  }

  /**
   * Moves every average towards its parameter, after an optimiser step.
   *
   * @param updates The count of applied updates, this one included, read when
   *   the factor is made — and at every replay of a recorded step (it is a
   *   host value), so pass the optimiser's live count: `() => optimizer.step`.
   * @param guard The step's report (`core/step_guard.ts`): where its `ok` is 0
   *   the averages stay as they are. Not disposed.
   */
  update(updates: () => number, guard?: Tensor): void {
    if (this.#members.length === 0) return;
    const factor = hostValue(() => Float32Array.of(1 - averageDecay(updates(), this.options)));
    try {
      moveAverages(this.#pairs, factor, guard);
    } finally {
      factor.dispose();
    }
  }

  /**
   * Exchanges every parameter's value with its average, in place: call it
   * once to evaluate the averaged weights, again to go on training the
   * trained ones (both exactly as they were).
   */
  swap(): void {
    // Member by member: a failure part-way (the device lost) leaves a mix; callers stop then.
    for (const { param, average } of this.#members) {
      tf.tidy(() => {
        const trained = tf.mul(param.variable, tf.scalar(1));
        assignInPlace(param.variable, average);
        assignInPlace(average, trained);
      });
    }
  }

  /**
   * The averages as `ema.<name>`: copies owned by the caller (dispose them),
   * never sharing an average's buffer, which the fused update writes in place.
   */
  state(): Map<string, Tensor> {
    return new Map(
      this.#members.map((m) => [
        `${EMA_PREFIX}${m.param.name}`,
        tf.tidy(() => tf.mul(m.average, tf.scalar(1))),
      ]),
    );
  }

  /**
   * Restores the averages from `ema.<name>` tensors (other keys are ignored,
   * so a whole checkpoint can be passed, or the averages of more parameters
   * than these: an evaluation averages only the inference graph's). Every
   * averaged parameter needs its tensor with its shape; everything is checked
   * before anything is assigned; the tensors are copied, not kept.
   */
  load(state: Map<string, Tensor>): void {
    for (const { param } of this.#members) {
      const t = state.get(`${EMA_PREFIX}${param.name}`);
      if (!t) {
        throw new Error(
          `the checkpoint has no average of "${param.name}" (${EMA_PREFIX}${param.name}): ` +
            `it was written without train.ema, or by another recipe`,
        );
      }
      if (!tf.util.arraysEqual(t.shape, param.variable.shape)) {
        throw new Error(
          `${EMA_PREFIX}${param.name} has shape [${t.shape}] in the checkpoint, ` +
            `[${param.variable.shape}] in the model`,
        );
      }
    }
    for (const { param, average } of this.#members) {
      const t = state.get(`${EMA_PREFIX}${param.name}`)!;
      tf.tidy(() => average.assign(tf.mul(tf.cast(t, "float32"), tf.scalar(1))));
    }
  }

  /** Releases the averages (not the parameters). */
  dispose(): void {
    for (const m of this.#members) m.average.dispose();
    this.#members.length = 0;
    this.#pairs.length = 0;
    this.#byName.clear();
  }
}
