/**
 * AdamW moments packed for the fused WebGPU update (`kernels/adamw.ts`).
 *
 * Parameters are grouped in the optimiser's order, at most as many per group
 * as the device can bind (`adamWGroupSlots`: 14 with 32 storage buffers per
 * stage, 16 at most) and at most `maxStorageBufferBindingSize` bytes of state
 * per group. A group's first and second moments live in one float32 tensor,
 * interleaved per element (`[m₀, v₀, m₁, v₁, …]`, its parameters one after
 * another). One step then costs one dispatch per group, which updates the
 * moments and the parameters in place: for the 152 parameters of a ViT-Ti,
 * 11 dispatches (14 per group with 32 storage buffers per stage) instead of
 * the reference composition's 13 per parameter.
 *
 * The packing is internal: `read` gives each parameter's `m` and `v` shaped
 * like the parameter, so checkpoints keep `optim.m.<name>` / `optim.v.<name>`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Parameter } from "../core/types.ts";
import type { Tensor, Variable } from "../core/tensor.ts";
import { ADAMW_GROUP } from "./adamw.ts";
import { adamWGroupSlots, adamWScalarsWidth } from "./adamw_program.ts";
import { ownBuffer } from "./in_place.ts";

/** The numbers of one AdamW step (bias corrections already computed for step t). */
export interface AdamWStep {
  /** Learning rate. */
  lr: number;
  /** First-moment decay. */
  beta1: number;
  /** Second-moment decay. */
  beta2: number;
  /** Denominator epsilon. */
  eps: number;
  /** Decoupled weight decay for parameters with `decay: true`. */
  weightDecay: number;
  /** The update count `t` (1 for the first update) the bias corrections are for. */
  t: number;
  /**
   * For parameters that start later (`startStep`): the count before their
   * first update, by start step; their bias corrections use `t` minus it.
   */
  first?: ReadonlyMap<number, number>;
  /** `1 − β1ᵗ`. */
  bc1: number;
  /** `√(1 − β2ᵗ)`. */
  bc2Sqrt: number;
  /**
   * A factor every gradient is multiplied by first (a one-element tensor:
   * gradient clipping's `min(1, maxNorm / (norm + 1e-6))`), or none.
   */
  gradScale?: Tensor;
  /**
   * A step report (`core/step_guard.ts`, `[scale, ok, …]`) read on the device
   * instead of `gradScale`: gradients are multiplied by its element 0, and
   * when its element 1 is 0 moments and parameters stay as they were.
   */
  guard?: Tensor;
  /**
   * The packed moments' per-step numbers ({@linkcode PackedAdamWMoments.stepScalars}'s
   * layout), when the caller made them (as a `hostValue`, so a replayed step
   * produces them afresh); made from the numbers above otherwise.
   */
  scalars?: Tensor;
}

/**
 * The step's numbers for one parameter: its rate `lr · lrScale` and, for a
 * parameter that starts training later (`startStep`, a node's
 * `freeze: { until }`), bias corrections for its own count of updates — `t`
 * minus the count before its first update (`s.first`; this update is its first
 * when it has none yet) — as PyTorch keeps a `step` per parameter — and,
 * with `warmup`, its rate ramped over its first updates (`lr · min(1, t/W)`).
 * `s` itself where none of these applies.
 */
export function parameterStep(s: AdamWStep, param: Parameter): AdamWStep {
  const scale = param.lrScale ?? 1, late = (param.startStep ?? 0) > 0;
  if (scale === 1 && !late) return s;
  if (!late) return { ...s, lr: s.lr * scale };
  const t = Math.max(1, s.t - (s.first?.get(param.startStep!) ?? s.t - 1));
  const warm = param.warmup ? Math.min(1, t / param.warmup) : 1;
  return {
    ...s,
    lr: s.lr * scale * warm,
    t,
    bc1: 1 - s.beta1 ** t,
    bc2Sqrt: Math.sqrt(1 - s.beta2 ** t),
  };
}

/** First and second moments of one parameter, shaped like it. */
export interface MomentPair {
  /** First moment. */
  m: Tensor;
  /** Second moment. */
  v: Tensor;
}

/** Where an optimiser keeps its moments, and how it updates them and the parameters. */
export interface AdamWMoments {
  /** Applies one step to every parameter in `grads` (validated by the caller). */
  update(grads: Map<string, Tensor>, step: AdamWStep): void;
  /** New tensors (owned by the caller) holding `name`'s moments. */
  read(name: string): MomentPair;
  /** Releases the moment buffers. */
  dispose(): void;
}

/**
 * Initial moments of a parameter, or zeros when it returns undefined. Called
 * inside `tf.tidy`: tensors it creates are released once copied; tensors it
 * merely returns stay the caller's.
 */
export type MomentInit = (name: string) => MomentPair | undefined;

interface Member {
  param: Parameter;
  /** First element in the group. */
  offset: number;
  size: number;
}

interface Group {
  members: Member[];
  elements: number;
  state: Variable;
}

/**
 * Groups in order: ≤ `slots` parameters and ≤ `maxBytes` of state each, and
 * one learning-rate multiplier per group (`scales`, default all 1: a group
 * shares its step size).
 */
export function groupParameters(
  sizes: number[],
  maxBytes: number,
  slots: number,
  scales: (number | string)[] = [],
): number[][] {
  const groups: number[][] = [];
  let current: number[] = [], elements = 0;
  sizes.forEach((size, i) => {
    const full = current.length === slots || 8 * (elements + size) > maxBytes ||
      (scales[i] ?? 1) !== (scales[current[0] ?? i] ?? 1);
    if (current.length > 0 && full) {
      groups.push(current);
      current = [];
      elements = 0;
    }
    current.push(i);
    elements += size;
  });
  if (current.length > 0) groups.push(current);
  return groups;
}

/**
 * What the members of a fused group share — the rate multiplier, the start
 * step and its warm-up — as a key: groups split where it changes.
 */
export function adamWGroupKey(p: Parameter): string {
  return `${p.lrScale ?? 1}@${p.startStep ?? 0}/${p.warmup ?? 0}`;
}

/** Packed moments updated by the fused WebGPU kernels (needs novalab's kernels on webgpu). */
export class PackedAdamWMoments implements AdamWMoments {
  #groups: Group[] = [];
  #where = new Map<string, { group: Group; member: Member }>();
  /** Bound for members without a gradient this step (never read). */
  #placeholder: Tensor = tf.keep(tf.zeros([2]));

  /**
   * Packs the moments of `params` (zeros, or `init`'s values) into group tensors.
   *
   * @param params The parameters, in the optimiser's order.
   * @param init Initial moments per parameter name (e.g. a loaded checkpoint).
   */
  constructor(params: Parameter[], init?: MomentInit) {
    const backend = tf.backend() as Partial<WebGPUBackend>;
    const limits = backend.device?.limits;
    const maxBytes = limits?.maxStorageBufferBindingSize ?? 128 * 2 ** 20;
    const slots = adamWGroupSlots(limits?.maxStorageBuffersPerShaderStage ?? 8);
    const sizes = params.map((p) => p.variable.size);
    const scales = params.map(adamWGroupKey);
    for (const indices of groupParameters(sizes, maxBytes, slots, scales)) {
      const members: Member[] = [];
      let elements = 0;
      for (const i of indices) {
        members.push({ param: params[i]!, offset: elements, size: sizes[i]! });
        elements += sizes[i]!;
      }
      const state = tf.tidy(() => {
        const parts = members.map(({ param }) => {
          const given = init?.(param.name);
          if (!given) return tf.zeros([2 * param.variable.size]);
          return tf.stack([given.m.flatten(), given.v.flatten()], 1).flatten();
        });
        return tf.variable(parts.length === 1 ? parts[0]! : tf.concat(parts), false);
      });
      const group = { members, elements, state };
      this.#groups.push(group);
      for (const member of members) this.#where.set(member.param.name, { group, member });
    }
  }

  /**
   * This step's numbers for the kernels, a row of {@linkcode adamWScalarsWidth}
   * per group: `lr·k / (1−β1ᵗ)`, `√(1−β2ᵗ)`, then `1 − lr·k·wd` per member,
   * `k` the group's learning-rate multiplier (float64, rounded once to float32
   * here).
   */
  stepScalars(s: AdamWStep): Float32Array {
    const width = adamWScalarsWidth();
    const out = new Float32Array(this.#groups.length * width);
    this.#groups.forEach((group, i) => {
      const own = parameterStep(s, group.members[0]!.param);
      const lr = own.lr;
      out[i * width] = lr / own.bc1;
      out[i * width + 1] = own.bc2Sqrt;
      group.members.forEach(({ param }, j) => {
        const wd = param.decay ? s.weightDecay : 0;
        out[i * width + 2 + j] = wd === 0 ? 1 : 1 - lr * wd;
      });
    });
    return out;
  }

  /** One dispatch per group with a gradient: moments and parameters updated in place. */
  update(grads: Map<string, Tensor>, s: AdamWStep): void {
    const scalars = s.scalars ?? tf.tensor(this.stepScalars(s));
    this.#groups.forEach((group, i) => {
      if (!group.members.some((m) => grads.has(m.param.name))) return;
      for (const { param } of group.members) ownBuffer(param.variable);
      ownBuffer(group.state);
      tf.tidy(() => {
        const inputs: Record<string, Tensor> = { state: group.state, scalars };
        if (s.gradScale) inputs["gradScale"] = s.gradScale;
        if (s.guard) inputs["guard"] = s.guard;
        const ends: number[] = [];
        let present = 0;
        group.members.forEach(({ param, offset, size }, j) => {
          const g = grads.get(param.name);
          if (g) present |= 1 << j;
          inputs[`g${j}`] = g ?? this.#placeholder;
          inputs[`p${j}`] = param.variable;
          ends.push(offset + size);
        });
        const attrs = {
          ends,
          present,
          scalarsAt: i * adamWScalarsWidth(),
          beta1: s.beta1,
          beta2: s.beta2,
          eps: s.eps,
        };
        tf.engine().runKernel(ADAMW_GROUP, inputs, attrs); // in place; its output is unused
      });
    });
    if (!s.scalars) scalars.dispose();
  }

  /** `name`'s moments, unpacked (new tensors owned by the caller). */
  read(name: string): MomentPair {
    const at = this.#where.get(name);
    if (!at) throw new Error(`kernels/adamw_state.ts: no packed moments for parameter '${name}'`);
    const { group, member } = at;
    return tf.tidy(() => {
      const pairs = tf.slice(group.state, [2 * member.offset], [2 * member.size])
        .reshape([member.size, 2]);
      const shape = member.param.variable.shape;
      return {
        m: tf.slice(pairs, [0, 0], [member.size, 1]).reshape(shape),
        v: tf.slice(pairs, [0, 1], [member.size, 1]).reshape(shape),
      };
    });
  }

  /** Releases the group tensors. */
  dispose(): void {
    for (const g of this.#groups) g.state.dispose();
    this.#placeholder.dispose();
    this.#groups = [];
    this.#where.clear();
  }
}
