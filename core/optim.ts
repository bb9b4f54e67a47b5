/**
 * AdamW: Adam with decoupled weight decay and a per-parameter decay mask,
 * numerically the update of PyTorch's `torch.optim.AdamW` (`amsgrad=False`).
 *
 * Two implementations of the same update: on WASM/CPU (and on WebGPU with
 * tfjs's stock kernels) the moments are one `m` and one `v` variable per
 * parameter and the update is a composition of tfjs ops (13 per parameter,
 * 14 with weight decay);
 * on WebGPU with novalab's kernels installed the moments are packed per group
 * of parameters and the fused kernel updates them (`kernels/adamw_state.ts`:
 * one dispatch per group writes its moments and updates its parameters in
 * place). The optimiser switches at
 * `apply` when the active backend changes; its checkpoint state is the same
 * either way.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Parameter } from "./types.ts";
import type { Tensor } from "./tensor.ts";
import { novalabKernelsActive } from "../kernels/install.ts";
import {
  type AdamWMoments,
  type AdamWStep,
  type MomentInit,
  PackedAdamWMoments,
} from "../kernels/adamw_state.ts";
import { hostValue } from "./host_value.ts";
import { SAME_STEP, type StepHost } from "./step_host.ts";
import { SeparateMoments } from "./adamw_moments.ts";
import {
  checkOptimizerState,
  knownNames,
  OPTIM_FIRST_PREFIX,
  OPTIM_M_PREFIX,
  OPTIM_STEP_KEY,
  OPTIM_V_PREFIX,
} from "./optim_state.ts";

/** Hyper-parameters of {@linkcode AdamW}; defaults are PyTorch's. */
export interface AdamWOptions {
  /** Decay rate of the first moment (default `0.9`). */
  beta1?: number;
  /** Decay rate of the second moment (default `0.999`). */
  beta2?: number;
  /** Added to `√v̂` in the denominator (default `1e-8`). */
  eps?: number;
  /** Decoupled weight decay, applied only where `Parameter.decay` is true (default `0.01`). */
  weightDecay?: number;
}

export { OPTIM_M_PREFIX, OPTIM_STEP_KEY, OPTIM_V_PREFIX } from "./optim_state.ts";

/**
 * The learning rate of update `t` (1 for the first update), or of the step
 * `host` stands for (`core/step_host.ts`: e.g. `host.input(info).step` for a
 * step number passed as a host input): what a replayed step
 * (`core/replayable_step.ts`) needs, since a number passed to
 * {@linkcode AdamW.apply} is recorded with the step and reused by every replay.
 */
export type LearningRateAt = (t: number, host: StepHost) => number;

function checkLearningRate(lr: number): number {
  if (!(Number.isFinite(lr) && lr >= 0)) {
    throw new RangeError(`AdamW.apply: lr must be finite and >= 0, got ${lr}`);
  }
  return lr;
}

function checkRange(name: string, value: number, lo: number, hi: number, hint: string): void {
  if (!(Number.isFinite(value) && value >= lo && value < hi)) {
    throw new RangeError(`AdamW: ${name} must be ${hint}, got ${value}`);
  }
}

/**
 * AdamW ([Loshchilov & Hutter, Decoupled Weight Decay Regularization](https://arxiv.org/abs/1711.05101)).
 *
 * For each parameter `p` with gradient `g`, at step `t` (1-based after increment):
 * `m ← β1·m + (1−β1)·g`, `v ← β2·v + (1−β2)·g²`, `m̂ = m/(1−β1^t)`, `v̂ = v/(1−β2^t)`,
 * `p ← p − lr·(m̂/(√v̂+ε) + wd·p)` with `wd = 0` where `decay` is false. As in
 * PyTorch, `lr` multiplies the decay term too (it is `p·(1 − lr·wd)` before the Adam step).
 *
 * Parameter names key the state and the gradient map, so they must be globally
 * unique (the trainer qualifies them as `<node>.<param path>`, e.g.
 * `image.blocks.0.attn.qkv.weight`). A parameter missing from the gradient map
 * is left untouched that step (no decay either, like PyTorch's `grad is None`),
 * but the step count is global — except for parameters that start training
 * later (`Parameter.startStep`, a node's `freeze: { until }`): their bias
 * corrections count their own updates from the first one, as PyTorch's
 * per-parameter `step` — one count per start step, shared by the parameters
 * that start there, from the first update of any of them (checkpointed as
 * `optim.first.<start step>`).
 */
export class AdamW {
  /** Decay rate of the first moment. */
  readonly beta1: number;
  /** Decay rate of the second moment. */
  readonly beta2: number;
  /** Denominator epsilon. */
  readonly eps: number;
  /** Decoupled weight decay for parameters with `decay: true`. */
  readonly weightDecay: number;
  /** The parameters by name, in the order given. */
  #params = new Map<string, Parameter>();
  #moments: AdamWMoments;
  #t = 0;
  /** For parameters that start later: the count before their first update, by start step. */
  #first = new Map<number, number>();

  /**
   * Creates zero first/second-moment buffers for every parameter (packed for
   * the fused kernels when they are active now, see the module notes).
   *
   * @param params The trainable parameters, names globally unique.
   * @param options Hyper-parameters; see {@linkcode AdamWOptions}.
   */
  constructor(params: Parameter[], options: AdamWOptions = {}) {
    this.beta1 = options.beta1 ?? 0.9;
    this.beta2 = options.beta2 ?? 0.999;
    this.eps = options.eps ?? 1e-8;
    this.weightDecay = options.weightDecay ?? 0.01;
    checkRange("beta1", this.beta1, 0, 1, "in [0, 1) (typical 0.9)");
    checkRange("beta2", this.beta2, 0, 1, "in [0, 1) (typical 0.999)");
    checkRange("eps", this.eps, 0, Infinity, "finite and >= 0 (typical 1e-8)");
    checkRange("weightDecay", this.weightDecay, 0, Infinity, "finite and >= 0 (typical 0.01–0.1)");
    for (const param of params) {
      if (this.#params.has(param.name)) {
        throw new Error(
          `AdamW: duplicate parameter name '${param.name}'; names must be globally unique ` +
            `(qualify them as '<node>.<param path>')`,
        );
      }
      if (param.variable.dtype !== "float32") {
        throw new TypeError(
          `AdamW: parameter '${param.name}' has dtype ${param.variable.dtype}; expected float32`,
        );
      }
      this.#params.set(param.name, param);
    }
    this.#moments = this.#makeMoments(novalabKernelsActive());
  }

  /** True while the moments are packed for novalab's fused WebGPU kernels. */
  get fused(): boolean {
    return this.#moments instanceof PackedAdamWMoments;
  }

  #makeMoments(fused: boolean, init?: MomentInit): AdamWMoments {
    const params = [...this.#params.values()];
    return fused ? new PackedAdamWMoments(params, init) : new SeparateMoments(params, init);
  }

  /** Repacks the moments when the active backend no longer matches their layout. */
  #matchBackend(): void {
    const fused = novalabKernelsActive();
    if (fused === this.fused) return;
    const old = this.#moments;
    this.#moments = this.#makeMoments(fused, (name) => old.read(name));
    old.dispose();
  }

  /** Number of updates applied so far (`t` of the bias corrections). */
  get step(): number {
    return this.#t;
  }

  /**
   * Applies one update in place (`variable.assign`) and increments the step.
   *
   * @param grads Gradient per parameter name, each shaped like its parameter. Not disposed.
   * @param lr Learning rate of this step (e.g. from `learningRate(step, …)`),
   *   or of update `t` as a function (the form a replayed step needs when the
   *   rate changes: a number is recorded with the step).
   * @param gradScale A one-element tensor every gradient is multiplied by first
   *   (gradient clipping's factor, `core/clip_grad.ts` `clipScale`); not disposed.
   * @param guard Instead of `gradScale`, a step report (`core/step_guard.ts`
   *   `stepGuard`, `[scale, ok, …]`) read on the device: gradients are
   *   multiplied by `scale`, and where `ok` is 0 moments and parameters stay
   *   as they were (the step count still advances: see {@linkcode AdamW.undoSteps}).
   *   Not disposed.
   */
  apply(
    grads: Map<string, Tensor>,
    lr: number | LearningRateAt,
    gradScale?: Tensor,
    guard?: Tensor,
  ): void {
    if (typeof lr === "number") checkLearningRate(lr);
    for (const [name, g] of grads) {
      const param = this.#params.get(name);
      if (!param) {
        throw new Error(
          `AdamW.apply: gradient for unknown parameter '${name}'; known: ${
            knownNames(this.#params)
          }`,
        );
      }
      if (!tf.util.arraysEqual(g.shape, param.variable.shape)) {
        throw new Error(
          `AdamW.apply: gradient of '${name}' has shape [${g.shape}]; ` +
            `expected [${param.variable.shape}] (the parameter's shape)`,
        );
      }
    }
    if (gradScale && (gradScale.size !== 1 || gradScale.dtype !== "float32")) {
      throw new Error(
        `AdamW.apply: gradScale must be one float32 element, got ${gradScale.dtype} ` +
          `[${gradScale.shape}]`,
      );
    }
    if (guard && (gradScale || guard.rank !== 1 || guard.size < 2 || guard.dtype !== "float32")) {
      throw new Error(
        `AdamW.apply: guard must be a float32 step report [scale, ok, …] given without ` +
          `gradScale, got ${guard.dtype} [${guard.shape}]${gradScale ? " and a gradScale" : ""}`,
      );
    }
    for (const name of grads.keys()) {
      const start = this.#params.get(name)!.startStep ?? 0;
      if (start > 0 && !this.#first.has(start)) this.#first.set(start, this.#t);
    }
    this.#matchBackend();
    const control = { ...(gradScale ? { gradScale } : {}), ...(guard ? { guard } : {}) };
    const moments = this.#moments;
    if (!(moments instanceof PackedAdamWMoments)) {
      moments.update(grads, { ...this.#advance(lr), ...control });
      return;
    }
    // The count and the step's numbers as a host value: a replayed step
    // (core/replayable_step.ts) advances them too.
    let step!: AdamWStep;
    const scalars = hostValue(
      (host) => moments.stepScalars(step = this.#advance(lr, host)),
      undefined,
      [
        typeof lr === "number" ? lr : NaN,
      ],
    );
    moments.update(grads, { ...step, ...control, scalars });
    scalars.dispose();
  }

  /** Increments the step count and returns the numbers of the update. */
  #advance(lr: number | LearningRateAt, host: StepHost = SAME_STEP): AdamWStep {
    const t = ++this.#t;
    const rate = typeof lr === "number" ? lr : checkLearningRate(lr(t, host));
    const { beta1, beta2, eps, weightDecay } = this;
    return {
      lr: rate,
      beta1,
      beta2,
      eps,
      weightDecay,
      t,
      first: this.#first,
      bc1: 1 - beta1 ** t,
      bc2Sqrt: Math.sqrt(1 - beta2 ** t),
    };
  }

  /**
   * Takes back the count of the last `n` steps: those a step report's gate
   * skipped on the device (their moments and parameters never changed), so
   * the bias corrections and checkpoints count only applied steps.
   */
  undoSteps(n: number): void {
    if (!(Number.isInteger(n) && n >= 0 && n <= this.#t)) {
      throw new RangeError(`AdamW.undoSteps: n must be an integer in [0, ${this.#t}], got ${n}`);
    }
    this.#t -= n;
    // A late start whose first update was taken back starts again at its next one.
    for (const [start, count] of this.#first) if (count >= this.#t) this.#first.delete(start);
  }

  /**
   * Optimiser state for checkpoints: `optim.m.<param>` and `optim.v.<param>`
   * (float32, shaped like the parameter) and `optim.step` (int32 scalar).
   * The tensors are new handles owned by the caller: dispose them after use.
   */
  state(): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    out.set(OPTIM_STEP_KEY, tf.scalar(this.#t, "int32"));
    for (const name of this.#params.keys()) {
      const { m, v } = this.#moments.read(name);
      out.set(`${OPTIM_M_PREFIX}${name}`, m);
      out.set(`${OPTIM_V_PREFIX}${name}`, v);
    }
    for (const [start, count] of this.#first) {
      out.set(`${OPTIM_FIRST_PREFIX}${start}`, tf.scalar(count, "int32"));
    }
    return out;
  }

  /**
   * Restores the state written by {@linkcode AdamW.state}. Keys not starting with
   * `optim.` are ignored (a whole checkpoint can be passed); every parameter must
   * have its `m` and `v` with the right shape, and unknown `optim.*` keys are an
   * error. Everything is validated before anything is assigned. The tensors are
   * copied, not kept: the caller still owns them.
   */
  async load(state: Map<string, Tensor>): Promise<void> {
    const { step: t, first } = await checkOptimizerState(state, this.#params);
    const loaded = this.#makeMoments(this.fused, (name) => ({
      m: tf.cast(state.get(`${OPTIM_M_PREFIX}${name}`)!, "float32"),
      v: tf.cast(state.get(`${OPTIM_V_PREFIX}${name}`)!, "float32"),
    }));
    this.#moments.dispose();
    this.#moments = loaded;
    this.#t = t;
    this.#first = first;
  }

  /** Releases the moment buffers (not the parameters). */
  dispose(): void {
    this.#moments.dispose();
    this.#params.clear();
  }
}
