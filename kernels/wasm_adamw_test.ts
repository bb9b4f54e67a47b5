/**
 * AdamW's in-place WASM pass (`kernels/wasm_adamw.ts`) against the reference
 * composition (`core/adamw_moments.ts` with novalab's WASM kernels off), on
 * the same backend, bit for bit: sizes with and without a scalar tail and one
 * cut over the helper threads, weight decay on and off, gradient clipping's
 * factor, a node's learning-rate multiplier, a step report that lets the step
 * through and one that stops it; a
 * clone of a moment taken before the step keeps its values.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { SeparateMoments } from "../core/adamw_moments.ts";
import type { AdamWStep } from "./adamw_state.ts";
import type { Parameter } from "../core/types.ts";
import { useWasmKernels } from "./wasm_register.ts";
import { values } from "./testing.ts";
import { profileKernels } from "../bench/kernel_profile.ts";

await initBackend("wasm");
const opts = { sanitizeOps: false, sanitizeResources: false };

const SIZES = [1, 7, 64, 40_001];

function bits(t: tf.Tensor): Uint32Array {
  return new Uint32Array((t.dataSync() as Float32Array).slice().buffer);
}

/** Three steps of AdamW on fresh parameters; returns parameters and moments as bits. */
function train(fused: boolean, extra: (step: number) => Partial<AdamWStep>): Uint32Array[] {
  useWasmKernels(fused);
  try {
    const params: Parameter[] = SIZES.map((n, i) => ({
      name: `p${i}`,
      variable: tf.variable(tf.tensor(values(n, 40 + i)), true, `adamw_test_${fused}_${i}`),
      decay: i % 2 === 0,
      ...(i === 1 || i === 2 ? { lrScale: 0.25 } : {}), // a node's lr_scale
    }));
    const moments = new SeparateMoments(params);
    for (let t = 1; t <= 3; t++) {
      const grads = new Map(
        params.map((p, i) => [p.name, tf.tensor(values(SIZES[i]!, 10 * t + i).map((x) => 3 * x))]),
      );
      const step: AdamWStep = {
        lr: 1e-2 * t,
        beta1: 0.9,
        beta2: 0.95,
        eps: 1e-8,
        weightDecay: 0.05,
        t,
        bc1: 1 - 0.9 ** t,
        bc2Sqrt: Math.sqrt(1 - 0.95 ** t),
        ...extra(t),
      };
      moments.update(grads, step);
      tf.dispose([...grads.values(), step.gradScale!, step.guard!].filter(Boolean));
    }
    const out = params.flatMap((p) => {
      const { m, v } = moments.read(p.name);
      const all = [bits(p.variable), bits(m), bits(v)];
      tf.dispose([m, v]);
      return all;
    });
    moments.dispose();
    params.forEach((p) => p.variable.dispose());
    return out;
  } finally {
    useWasmKernels(undefined);
  }
}

Deno.test({
  name: "kernels/wasm_adamw: the in-place pass writes the composition's bits",
  ...opts,
  fn() {
    const cases: [string, (t: number) => Partial<AdamWStep>][] = [
      ["plain", () => ({})],
      ["clipped", () => ({ gradScale: tf.tensor1d([0.37]) })],
      ["guarded", () => ({ guard: tf.tensor1d([0.81, 1, 5]) })],
      // The second step's report stops it: parameters and moments stay as after step 1.
      ["stopped", (t) => ({ guard: tf.tensor1d([1, t === 2 ? 0 : 1, 0]) })],
    ];
    for (const [what, extra] of cases) {
      const profiler = profileKernels("wasm");
      profiler.phase("reference");
      const reference = train(false, extra);
      profiler.phase("fused");
      const fused = train(true, extra);
      const sqrt = (phase: string) =>
        profiler.read().find((s) => s.kernel === "Sqrt" && s.phase === phase)?.calls ?? 0;
      assert.ok(sqrt("reference") >= 3 * SIZES.length, `${what}: the composition ran`);
      assert.equal(sqrt("fused"), 0, `${what}: the fused pass ran instead`);
      profiler.detach();
      reference.forEach((r, i) => assert.deepEqual(fused[i], r, `${what}: tensor ${i}`));
    }
  },
});

Deno.test({
  name: "kernels/wasm_adamw: a clone taken before the step keeps its values",
  ...opts,
  fn() {
    const param: Parameter = {
      name: "w",
      variable: tf.variable(tf.tensor(values(33, 1)), true, "adamw_test_clone"),
      decay: true,
    };
    const moments = new SeparateMoments([param]);
    const step = { lr: 0.1, beta1: 0.9, beta2: 0.99, eps: 1e-8, weightDecay: 0.1 };
    const g = tf.tensor(values(33, 2));
    moments.update(new Map([["w", g]]), { ...step, t: 1, bc1: 0.1, bc2Sqrt: Math.sqrt(0.01) });
    const before = moments.read("w"), snapshot = tf.clone(param.variable);
    const [m0, p0] = [bits(before.m), bits(snapshot)];
    moments.update(new Map([["w", g]]), { ...step, t: 2, bc1: 0.19, bc2Sqrt: Math.sqrt(0.0199) });
    assert.deepEqual(bits(before.m), m0, "the moment read for a checkpoint is unchanged");
    assert.deepEqual(bits(snapshot), p0, "the parameter's clone is unchanged");
    assert.notDeepEqual(bits(param.variable), p0, "the parameter moved");
    tf.dispose([g, before.m, before.v, snapshot]);
    moments.dispose();
    param.variable.dispose();
  },
});
