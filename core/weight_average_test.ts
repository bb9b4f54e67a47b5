/**
 * The weight average (`core/weight_average.ts`) against a float64 average
 * computed here from the same parameter trajectory: the decay with and
 * without warm-up, a step the guard skipped, swapping in and back, the
 * checkpoint tensors and their errors; and the fused WebGPU update (18
 * parameters of odd sizes, several groups) against the op composition on the
 * CPU, gated and not, one dispatch per group, no leaks — on any WebGPU
 * adapter, Mesa's fallback in CI included.
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import assert from "node:assert/strict";
import type { Parameter } from "./types.ts";
import { averageDecay, WeightAverage } from "./weight_average.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "../kernels/testing.ts";
import { groupParameters } from "../kernels/adamw_state.ts";
import { averageGroupSlots } from "../kernels/weight_average_program.ts";

const SHAPES = [
  [3, 5],
  [5],
  [1],
  [7, 3],
  [4],
  [2, 2, 3],
  [13, 11],
  [9],
  [17, 5],
  [2],
  [3, 31],
  [65],
  [6, 6],
  [1, 3],
  [70],
  [4, 4, 4],
  [11],
  [3, 3],
];

function makeParams(): Parameter[] {
  return SHAPES.map((shape, i) => ({
    name: `p${i}`,
    decay: true,
    variable: tf.tidy(() =>
      tf.variable(tf.tensor(values(shape.reduce((a, d) => a * d, 1), i + 1), shape))
    ),
  }));
}

/** Moves every parameter as an optimiser step `s` would (deterministic, O(1)). */
function move(params: Parameter[], s: number): void {
  params.forEach((p, i) => {
    tf.tidy(() =>
      p.variable.assign(
        tf.add(p.variable, tf.tensor(values(p.variable.size, 50 * s + i), p.variable.shape)),
      )
    );
  });
}

const read = (params: Parameter[]) => params.map((p) => Float64Array.from(p.variable.dataSync()));

Deno.test("weight average: the decay, and its warm-up n / (n + 9)", () => {
  assert.equal(averageDecay(1, { decay: 0.999 }), 0.999);
  assert.equal(averageDecay(1, { decay: 0.999, warmup: true }), 0.1);
  assert.equal(averageDecay(11, { decay: 0.999, warmup: true }), 0.55);
  assert.equal(averageDecay(1e6, { decay: 0.999, warmup: true }), 0.999);
  assert.equal(averageDecay(1, { decay: 0.999, debias: true }), 0, "the first update takes p");
  assertClose([averageDecay(1e5, { decay: 0.999, debias: true })], [0.999], "debias → d", {
    atol: 1e-12,
    rtol: 0,
  });
  // Debiased, the average is Σ (1 − d)·d^(n−k)·p_k / (1 − dⁿ): check on scalars p_k = k².
  const d = 0.8, p = [1, 4, 9, 16, 25];
  let e = 123; // the initial value, which must not count
  p.forEach((pk, k) => (e += (pk - e) * (1 - averageDecay(k + 1, { decay: d, debias: true }))));
  const weights = p.map((_, k) => (1 - d) * d ** (p.length - 1 - k));
  const mean = weights.reduce((s, w, k) => s + w * p[k]!, 0) / (1 - d ** p.length);
  assertClose([e], [mean], "debiased closed form", { atol: 1e-12, rtol: 1e-12 });
  assert.throws(() => new WeightAverage([], { decay: 1 }), /decay must be in \[0, 1\)/);
  assert.throws(() => new WeightAverage([], { decay: -0.1 }), /decay must be in \[0, 1\)/);
});

Deno.test("weight average: follows a float64 average; a skipped step leaves it; swap is exact", async () => {
  await tf.setBackend("cpu");
  for (const [warmup, debias] of [[false, false], [true, false], [false, true]]) {
    const params = makeParams();
    const options = { decay: 0.9, warmup, debias };
    const average = new WeightAverage(params, options);
    let expected = read(params);
    const guard = (ok: number) => tf.tensor1d([1, ok, 0]);
    let n = 0;
    for (let s = 0; s < 5; s++) {
      move(params, s);
      const skipped = s === 2;
      const report = guard(skipped ? 0 : 1);
      if (!skipped) n++;
      average.update(() => n, report);
      report.dispose();
      if (skipped) continue;
      const d = averageDecay(n, options);
      const now = read(params);
      expected = expected.map((e, i) => e.map((x, k) => x + (now[i]![k]! - x) * (1 - d)));
    }
    const trained = read(params);
    const before = tf.memory().numTensors;
    average.swap();
    assert.equal(tf.memory().numTensors, before, "a swap leaks nothing");
    read(params).forEach((v, i) =>
      assertClose(v, expected[i]!, `p${i} averaged (warmup ${warmup})`, { atol: 1e-6, rtol: 1e-6 })
    );
    average.swap();
    assert.deepEqual(read(params), trained, "swapped back exactly");
    average.dispose();
    tf.dispose(params.map((p) => p.variable));
  }
});

Deno.test("weight average: ema.* tensors round-trip; a missing or misshapen one is named", async () => {
  await tf.setBackend("cpu");
  const params = makeParams();
  const average = new WeightAverage(params, { decay: 0.5 });
  move(params, 0);
  average.update(() => 1);
  const state = average.state();
  assert.deepEqual([...state.keys()], params.map((p) => `ema.${p.name}`));
  const copy = new WeightAverage(params, { decay: 0.5 });
  copy.load(new Map([...state, ["ema.other", tf.zeros([2])], ["optim.step", tf.scalar(1)]]));
  const a = average.state(), b = copy.state();
  for (const [k, t] of a) assert.deepEqual(b.get(k)!.dataSync(), t.dataSync(), k);
  const missing = new Map(state);
  missing.delete("ema.p3");
  assert.throws(
    () => copy.load(missing),
    /no average of "p3" \(ema\.p3\): it was written without train\.ema/,
  );
  const bent = new Map(state);
  bent.set("ema.p0", tf.zeros([5, 3]));
  assert.throws(
    () => copy.load(bent),
    /ema\.p0 has shape \[5,3\] in the checkpoint, \[3,5\] in the model/,
  );
  tf.dispose([...state.values(), ...a.values(), ...b.values(), bent.get("ema.p0")!]);
  average.dispose();
  copy.dispose();
  tf.dispose(params.map((p) => p.variable));
});

const skip = await webgpuSkipReason();
if (skip) console.warn(`core/weight_average_test.ts WebGPU cases skipped: ${skip}`);

/** Three updates (the second gated shut when `gated`); returns the averages. */
async function averaged(backend: "cpu" | "webgpu", gated: boolean): Promise<Float32Array[]> {
  if (backend === "webgpu") await useNovalabWebGpu();
  else await tf.setBackend("cpu");
  const params = makeParams();
  const average = new WeightAverage(params, { decay: 0.8, warmup: true });
  for (let s = 0; s < 3; s++) {
    move(params, s);
    const report = tf.tensor1d([1, gated && s === 1 ? 0 : 1, 0]);
    average.update(() => s + 1, gated ? report : undefined);
    report.dispose();
  }
  const state = average.state();
  const out = await Promise.all(
    [...state.values()].map(async (t) => (await t.data()) as Float32Array),
  );
  tf.dispose([...state.values()]);
  average.dispose();
  tf.dispose(params.map((p) => p.variable));
  return out;
}

Deno.test({
  name: "weight average: the fused WebGPU update equals the composition, gated or not",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    for (const gated of [false, true]) {
      const expected = await averaged("cpu", gated);
      const actual = await averaged("webgpu", gated);
      actual.forEach((v, i) =>
        assertClose(v, expected[i]!, `p${i} (gated ${gated})`, { atol: 1e-6, rtol: 1e-6 })
      );
    }
    const ungated = await averaged("cpu", false), gated = await averaged("cpu", true);
    assert.notDeepEqual(ungated[0], gated[0], "the gate acts");
  },
});

Deno.test({
  name: "weight average: one dispatch per group of parameters, nothing leaked, swap keeps buffers",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const counter = await useNovalabWebGpu();
    const params = makeParams();
    const average = new WeightAverage(params, { decay: 0.9 });
    average.update(() => 1);
    const before = tf.memory().numTensors;
    counter.reset();
    average.update(() => 2);
    const limit = (tf.backend() as WebGPUBackend).device.limits.maxStorageBuffersPerShaderStage;
    const groups = groupParameters(
      SHAPES.map((s) => s.reduce((a, d) => a * d, 1)),
      Infinity,
      averageGroupSlots(limit),
    );
    assert.ok(groups.length >= 2, "several groups");
    assert.deepEqual(counter.read().byProgram, { NovalabWeightAverageProgram: groups.length });
    assert.equal(tf.memory().numTensors, before);
    const ids = params.map((p) => p.variable.dataId);
    average.swap();
    average.swap();
    assert.deepEqual(params.map((p) => p.variable.dataId), ids, "each parameter keeps its buffer");
    average.dispose();
    tf.dispose(params.map((p) => p.variable));
  },
});
