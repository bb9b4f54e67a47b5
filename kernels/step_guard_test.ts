/**
 * The step guard (`kernels/step_guard.ts`) against its op composition
 * (`core/step_guard.ts` on the CPU backend): finite and non-finite losses and
 * norms, a previous failure, with and without clipping's factor, one and
 * several losses; then AdamW and BatchNorm's running statistics gated by a
 * report. Runs on the fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { decodeStepReport, healthyReport, stepGuard } from "../core/step_guard.ts";
import { AdamW } from "../core/optim.ts";
import type { Parameter } from "../core/types.ts";
import { updateRunningStatistics } from "./batchnorm.ts";
import { useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/step_guard_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

interface Case {
  losses: number[];
  norm: number;
  previousOk: boolean;
  scale?: number;
}

const CASES: Case[] = [
  { losses: [0.5], norm: 2, previousOk: true },
  { losses: [1.5, 1, 0.25], norm: 0.1, previousOk: true, scale: 0.4 },
  { losses: [NaN, 1, 2], norm: 3, previousOk: true, scale: 1 },
  { losses: [1, Infinity], norm: 3, previousOk: true },
  { losses: [1, 2], norm: NaN, previousOk: true, scale: NaN },
  { losses: [1, 2], norm: -Infinity, previousOk: true },
  { losses: [1, 2], norm: 0.5, previousOk: false, scale: 1 },
  { losses: [-3.4e38, 3.4e38], norm: 1e-30, previousOk: true },
];

async function report(c: Case): Promise<number[]> {
  const previous = c.previousOk ? healthyReport() : tf.tensor1d([1, 0, 0, 7]);
  const losses = tf.tensor1d(c.losses);
  const norm = tf.tensor1d([c.norm]);
  const scale = c.scale === undefined ? null : tf.tensor1d([c.scale]);
  const out = stepGuard({ losses, norm, previous, scale });
  const result = Array.from(await out.data());
  tf.dispose([previous, losses, norm, out, ...(scale ? [scale] : [])]);
  return result;
}

Deno.test({
  name: "kernels/step_guard: the report equals the composition's, NaN and ±Inf decided on bits",
  ...opts,
  async fn() {
    await tf.setBackend("cpu");
    const expected = await Promise.all(CASES.map(report));
    await useNovalabWebGpu();
    const actual = await Promise.all(CASES.map(report));
    CASES.forEach((c, i) => {
      assert.deepEqual(actual[i], expected[i], `case ${i}: ${JSON.stringify(c)}`);
      const r = decodeStepReport(actual[i]!);
      const finite = [...c.losses, c.norm].every(Number.isFinite);
      assert.equal(r.ok, finite && c.previousOk, `case ${i}: ok`);
      assert.deepEqual(r.losses, c.losses.map(Math.fround), `case ${i}: losses`);
    });
  },
});

function makeParams(): Parameter[] {
  return [[3, 5], [7], [1]].map((shape, i) => ({
    name: `p${i}`,
    decay: i !== 1,
    variable: tf.variable(tf.tensor(values(shape.reduce((a, b) => a * b), i + 1), shape)),
  }));
}

async function adamWAfter(gates: number[], backend: "cpu" | "webgpu"): Promise<number[][]> {
  if (backend === "cpu") await tf.setBackend("cpu");
  else await useNovalabWebGpu();
  const params = makeParams();
  const opt = new AdamW(params, { beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 });
  gates.forEach((gate, step) => {
    const grads = new Map(params.map((p, i) => [
      p.name,
      tf.tensor(values(p.variable.size, 10 * step + i), p.variable.shape),
    ]));
    // Gate 0 comes with the NaN gradients of a failed step: nothing may change.
    if (gate === 0) grads.set("p1", tf.fill(params[1]!.variable.shape, NaN));
    const guard = tf.tensor1d([0.5, gate, 1, 2]);
    opt.apply(grads, 0.05, undefined, guard);
    tf.dispose([guard, ...grads.values()]);
  });
  const state = opt.state();
  const out = await Promise.all(
    [...params.map((p) => p.variable), ...state.values()].map(async (t) =>
      Array.from(await t.data())
    ),
  );
  tf.dispose([...state.values(), ...params.map((p) => p.variable)]);
  opt.dispose();
  return out;
}

Deno.test({
  name:
    "kernels/step_guard: AdamW gated by a report — fused equals reference, gate 0 changes nothing",
  ...opts,
  async fn() {
    const reference = await adamWAfter([1, 0, 1], "cpu");
    const fused = await adamWAfter([1, 0, 1], "webgpu");
    reference.forEach((r, i) =>
      r.forEach((v, j) => assert.ok(Math.abs(v - fused[i]![j]!) <= 1e-6 + 1e-5 * Math.abs(v)))
    );
    // Skipping the middle step is the same as two steps (the step count aside).
    const two = await adamWAfter([1, 1], "cpu");
    const gatedAt = await adamWAfter([1, 0], "cpu");
    const one = await adamWAfter([1], "cpu");
    assert.deepEqual(gatedAt.slice(0, 3), one.slice(0, 3), "parameters after a gated step");
    assert.deepEqual(gatedAt.slice(4), one.slice(4), "moments after a gated step");
    assert.notDeepEqual(two.slice(0, 3), one.slice(0, 3), "an open gate updates");
  },
});

Deno.test({
  name: "kernels/step_guard: BatchNorm's running statistics keep their values on gate 0",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const dim = 67;
    const t = (seed: number) => tf.tensor1d(values(dim, seed));
    const batch = { mean: t(3), variance: tf.abs(t(4)) };
    const open = tf.tensor1d([1, 1, 0]), shut = tf.tensor1d([1, 0, 0]);
    const read = async (x: tf.Tensor) => Array.from(await x.data());
    /** The running estimates after one in-place update from fresh copies (gate as given). */
    const updated = async (guard?: tf.Tensor) => {
      const running = { mean: t(1), variance: tf.abs(t(2)) };
      updateRunningStatistics(running, batch, 0.1, 8 / 7, guard);
      const out = [await read(running.mean), await read(running.variance)];
      tf.dispose([running.mean, running.variance]);
      return out;
    };
    const plain = await updated();
    const before = [await read(t(1)), await read(tf.abs(t(2)))];
    assert.notDeepEqual(plain, before, "an open update changes them");
    assert.deepEqual(await updated(open), plain);
    assert.deepEqual(await updated(shut), before);
    tf.dispose([batch.mean, batch.variance, open, shut]);
  },
});
