/**
 * AdamW's reference moments (`core/optim.ts`): an `m` and a `v` variable per
 * parameter, updated by a composition of tfjs ops — the layout on WASM, the
 * CPU and WebGPU with tfjs's stock kernels, and the reference the fused WebGPU
 * update (`kernels/adamw_state.ts`) is tested against.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Parameter } from "./types.ts";
import type { Tensor, Variable } from "./tensor.ts";
import {
  type AdamWMoments,
  type AdamWStep,
  type MomentInit,
  type MomentPair,
  parameterStep,
} from "../kernels/adamw_state.ts";
import { wasmKernelsActive } from "../kernels/wasm_runtime.ts";
import { wasmAdamW } from "../kernels/wasm_adamw.ts";

interface Slot {
  param: Parameter;
  m: Variable;
  v: Variable;
}

/** A step report's gradient factor and gate as scalar tensors. */
interface Gate {
  scale: Tensor;
  open: Tensor;
}

function isFloat32(t: Tensor): boolean {
  return t.dtype === "float32";
}

/**
 * The reference moments: an `m` and a `v` variable per parameter, updated by
 * tfjs ops — or, on WASM with novalab's kernels, by one in-place pass per
 * parameter that writes the same bits (`kernels/wasm_adamw.ts`).
 */
export class SeparateMoments implements AdamWMoments {
  #slots = new Map<string, Slot>();

  constructor(params: Parameter[], init?: MomentInit) {
    for (const param of params) {
      const [m, v] = tf.tidy(() => {
        const given = init?.(param.name);
        return [
          tf.variable(given ? given.m : tf.zerosLike(param.variable), false),
          tf.variable(given ? given.v : tf.zerosLike(param.variable), false),
        ];
      });
      this.#slots.set(param.name, { param, m: m!, v: v! });
    }
  }

  update(grads: Map<string, Tensor>, s: AdamWStep): void {
    // A step report's factor and gate, as scalars, made once for all parameters the
    // composition updates (the WASM pass reads the report itself).
    let gate: Gate | undefined;
    const gateOnce = () =>
      gate ??= tf.tidy(() => {
        const at = (i: number) => tf.reshape(tf.slice(s.guard!, [i], [1]), []);
        return { scale: at(0), open: tf.notEqual(at(1), 0) };
      });
    const wasm = wasmKernelsActive();
    for (const [name, g] of grads) {
      const slot = this.#slots.get(name)!;
      const wd = slot.param.decay ? s.weightDecay : 0;
      const own = parameterStep(s, slot.param); // lr_scale, layer decay, a later start
      if (wasm && [g, slot.m, slot.v, slot.param.variable].every(isFloat32)) {
        // One in-place SIMD pass with the same float32 operations (kernels/wasm_adamw.ts).
        wasmAdamW(slot.param.variable, g, slot.m, slot.v, { ...own, weightDecay: wd });
      } else {
        this.#update(slot, g, own, s.guard ? gateOnce() : undefined);
      }
    }
    if (gate) tf.dispose([gate.scale, gate.open]);
  }

  #update(slot: Slot, g: Tensor, s: AdamWStep, gate?: Gate): void {
    const { beta1, beta2, eps, lr } = s;
    const wd = slot.param.decay ? s.weightDecay : 0;
    tf.tidy(() => {
      if (s.gradScale) g = tf.mul(g, s.gradScale); // gradient clipping's factor
      if (gate) g = tf.mul(g, gate.scale);
      let m = tf.add(tf.mul(slot.m, beta1), tf.mul(g, 1 - beta1));
      let v = tf.add(tf.mul(slot.v, beta2), tf.mul(tf.square(g), 1 - beta2));
      const denom = tf.add(tf.div(tf.sqrt(v), s.bc2Sqrt), eps);
      const p0 = slot.param.variable;
      const decayed = wd === 0 ? p0 : tf.mul(p0, 1 - lr * wd);
      let p = tf.sub(decayed, tf.mul(tf.div(m, denom), lr / s.bc1));
      if (gate) {
        // The step report's gate: on 0 (a non-finite step) everything stays as it was.
        const { open } = gate;
        [m, v, p] = [tf.where(open, m, slot.m), tf.where(open, v, slot.v), tf.where(open, p, p0)];
      }
      slot.m.assign(m);
      slot.v.assign(v);
      p0.assign(p);
    });
  }

  read(name: string): MomentPair {
    const slot = this.#slots.get(name)!;
    return { m: tf.clone(slot.m), v: tf.clone(slot.v) };
  }

  dispose(): void {
    for (const slot of this.#slots.values()) {
      slot.m.dispose();
      slot.v.dispose();
    }
    this.#slots.clear();
  }
}
