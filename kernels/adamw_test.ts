/**
 * The fused WebGPU AdamW (packed moments, `kernels/adamw*.ts`) against the
 * reference AdamW (`core/optim.ts`'s op composition) on tfjs's CPU backend:
 * several steps with a changing learning rate, parameters with and without
 * weight decay, learning-rate multipliers (groups split at each change),
 * parameters that start training at a later step (their own bias corrections), odd
 * sizes, a size-1 parameter, two groups, gradients missing in one step; the
 * dispatch count; switching layouts; and checkpoints written by the fused
 * optimiser (same names and shapes as the reference's, and a resumed run equal
 * to an uninterrupted one). Runs on any WebGPU adapter, including
 * Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import assert from "node:assert/strict";
import { AdamW } from "../core/optim.ts";
import { saveCheckpoint } from "../core/checkpoint.ts";
import { loadCheckpoint } from "../core/checkpoint_load.ts";
import { decodeSafetensors } from "../core/safetensors.ts";
import type { Parameter } from "../core/types.ts";
import { adamWGroupKey, groupParameters } from "./adamw_state.ts";
import { ADAMW_GROUP, adamWScalarsWidth } from "./adamw.ts";
import { adamWGroupSlots, MAX_ADAMW_GROUP_SLOTS } from "./adamw_program.ts";
import { installNovalabKernels, restoreStockKernels } from "./install.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/adamw_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** fp32: a few steps of O(1) updates scaled by lr ≤ 0.05, compared entry by entry. */
const TOL = { atol: 1e-6, rtol: 1e-5 };
/**
 * `[shape, decay]`: 18 parameters, groups of 14 and 4 on adapters with 32 storage buffers per
 * stage (lavapipe), so two shader variants run; odd sizes, one of size 1, some > 64.
 */
const SPECS: [number[], boolean][] = [
  [[3, 5], true],
  [[5], false],
  [[1], false],
  [[7, 3], true],
  [[4], false],
  [[2, 2, 3], true],
  [[13, 11], true],
  [[9], false],
  [[17, 5], true],
  [[2], false],
  [[3, 31], true],
  [[65], false],
  [[6, 6], true],
  [[1, 3], false],
  [[70], true],
  [[4, 4, 4], false],
  [[11], true],
  [[3, 3], false],
];
const HYPER = { beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };

/** Learning-rate multipliers (a node's `lr_scale`) of some parameters: groups split at changes. */
const LR_SCALES: Record<number, number> = { 4: 0.1, 5: 0.1, 9: 3 };
/**
 * Parameters trained from step 2 on (a node's `freeze: { until: 2 }`): no gradients before;
 * p12's rate warms up over 2 updates (`warmup: 2`), so it is a group of its own.
 */
const START_STEPS: Record<number, number> = { 11: 2, 12: 2 };
const WARMUPS: Record<number, number> = { 12: 2 };

function makeParams(): Parameter[] {
  return SPECS.map(([shape, decay], i) => ({
    name: `p${i}`,
    decay,
    ...(LR_SCALES[i] !== undefined && { lrScale: LR_SCALES[i] }),
    ...(START_STEPS[i] !== undefined && { startStep: START_STEPS[i] }),
    ...(WARMUPS[i] !== undefined && { warmup: WARMUPS[i] }),
    variable: tf.tidy(() =>
      tf.variable(tf.tensor(values(shape.reduce((a, d) => a * d, 1), i + 1), shape))
    ), // the initial tensor is released: the variable owns its buffer alone
  }));
}

/**
 * Gradients of step `s` (0-based); step 1 has none for p1, p7 and p16 (one in the last group),
 * and p11 and p12 (a group of their own: they start at step 2) have none before step 2.
 */
function gradsAt(params: Parameter[], s: number): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  params.forEach((p, i) => {
    if (s === 1 && (i === 1 || i === 7 || i === 16)) return;
    if (s < (p.startStep ?? 0)) return;
    const g = values(p.variable.size, 100 * (s + 1) + i).map((x) => x * (1 + i));
    out.set(p.name, tf.tensor(g, p.variable.shape));
  });
  return out;
}

/** How a test applies a gradient factor: not at all, to the gradients first, or as `gradScale`. */
type Scaling = "none" | "prescaled" | "tensor";
const FACTOR = 0.37;

function runSteps(
  opt: AdamW,
  params: Parameter[],
  from: number,
  to: number,
  scaling: Scaling = "none",
): void {
  for (let s = from; s < to; s++) {
    let grads = gradsAt(params, s);
    if (scaling === "prescaled") {
      const scaled = new Map([...grads].map(([k, g]) => [k, tf.mul(g, tf.scalar(FACTOR))]));
      tf.dispose([...grads.values()]);
      grads = scaled;
    }
    const factor = scaling === "tensor" ? tf.tensor1d([FACTOR]) : undefined;
    opt.apply(grads, 0.05 / (s + 1), factor);
    tf.dispose([...grads.values(), ...(factor ? [factor] : [])]);
  }
}

/** Parameters, then every `optim.*` tensor of `state()` in key order. */
async function snapshot(opt: AdamW, params: Parameter[]): Promise<Map<string, Float32Array>> {
  const out = new Map<string, Float32Array>();
  for (const p of params) out.set(p.name, (await p.variable.data()) as Float32Array);
  const state = opt.state();
  for (const [k, t] of state) out.set(k, Float32Array.from(await t.data()));
  tf.dispose([...state.values()]);
  return out;
}

function assertSame(actual: Map<string, Float32Array>, expected: Map<string, Float32Array>) {
  assert.deepEqual([...actual.keys()], [...expected.keys()]);
  for (const [k, v] of expected) assertClose(actual.get(k)!, v, k, TOL);
}

/** Runs steps [0, steps) on `backend` from fresh parameters; returns the snapshot. */
async function trained(backend: "cpu" | "webgpu", steps: number, scaling: Scaling = "none") {
  if (backend === "webgpu") await useNovalabWebGpu();
  else await tf.setBackend("cpu");
  const params = makeParams();
  const opt = new AdamW(params, HYPER);
  assert.equal(opt.fused, backend === "webgpu");
  runSteps(opt, params, 0, steps, scaling);
  const snap = await snapshot(opt, params);
  opt.dispose();
  tf.dispose(params.map((p) => p.variable));
  return snap;
}

Deno.test("kernels/adamw: a group shares one learning-rate multiplier", () => {
  const sizes = [1, 1, 1, 1, 1];
  assert.deepEqual(groupParameters(sizes, 1e9, 6, [1, 1, 0.1, 0.1, 1]), [[0, 1], [2, 3], [4]]);
  assert.deepEqual(groupParameters(sizes, 1e9, 6), [[0, 1, 2, 3, 4]]);
});

Deno.test("kernels/adamw: parameters are grouped by slot count and state bytes", () => {
  const sizes = [1, 2, 3, 4, 5, 6, 7, 8];
  assert.deepEqual(groupParameters(sizes, 1e9, 6), [[0, 1, 2, 3, 4, 5], [6, 7]]);
  assert.deepEqual(groupParameters([10, 10, 10], 8 * 20, 6), [[0, 1], [2]]);
  assert.deepEqual(groupParameters([50, 1], 8 * 20, 6), [[0], [1]], "an oversize one stands alone");
});

Deno.test("kernels/adamw: a group holds as many parameters as the device can bind", () => {
  assert.equal(adamWGroupSlots(8), 2, "WebGPU's default: state, scalars, output, scale + 2 × 2");
  assert.equal(adamWGroupSlots(13), 4);
  assert.equal(adamWGroupSlots(32), 14);
  assert.equal(adamWGroupSlots(1_000_000), MAX_ADAMW_GROUP_SLOTS);
});

Deno.test({
  name: "kernels/adamw: a gradient scale (clipping's factor) is the same as scaling the gradients",
  ...opts,
  async fn() {
    const prescaled = await trained("cpu", 3, "prescaled");
    const cpu = await trained("cpu", 3, "tensor");
    for (const [k, v] of prescaled) assert.deepEqual(cpu.get(k), v, `${k}: bit for bit on the CPU`);
    assertSame(await trained("webgpu", 3, "tensor"), prescaled);
    const unscaled = await trained("cpu", 3);
    assert.notDeepEqual(unscaled.get("optim.m.p0"), prescaled.get("optim.m.p0"), "the factor acts");
  },
});

Deno.test({
  name: "kernels/adamw: 3 fused steps equal the reference AdamW (params, m, v, decay on/off)",
  ...opts,
  async fn() {
    const expected = await trained("cpu", 3);
    const actual = await trained("webgpu", 3);
    assertSame(actual, expected);
  },
});

Deno.test({
  name: "kernels/adamw: one step is one dispatch per group, no leaks",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const params = makeParams();
    const opt = new AdamW(params, HYPER);
    runSteps(opt, params, 0, 1);
    const before = tf.memory().numTensors;
    counter.reset();
    runSteps(opt, params, 2, 3);
    const device = (tf.backend() as WebGPUBackend).device;
    const slots = adamWGroupSlots(device.limits.maxStorageBuffersPerShaderStage);
    const sizes = params.map((p) => p.variable.size);
    const scales = params.map(adamWGroupKey);
    const groups = groupParameters(sizes, Infinity, slots, scales).length;
    assert.ok(groups > Math.ceil(SPECS.length / slots), "the multipliers split groups");
    assert.deepEqual(counter.read().byProgram, { NovalabAdamWGroupProgram: groups });
    counter.reset();
    // p1, p7, p16 have no gradient: still one dispatch per group, but for p11's and p12's, whose
    // members have none (they start at step 2).
    runSteps(opt, params, 1, 2);
    assert.deepEqual(counter.read().byProgram, { NovalabAdamWGroupProgram: groups - 2 });
    assert.equal(tf.memory().numTensors, before, "no tensors leak across fused steps");
    opt.dispose();
    tf.dispose(params.map((p) => p.variable));
  },
});

Deno.test({
  name: "kernels/adamw: in-place updates leave tensors sharing a parameter's buffer as they were",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const params = makeParams();
    const opt = new AdamW(params, HYPER);
    const first = params[0]!.variable;
    const kept = tf.clone(first); // shares the buffer until the update copies the parameter
    const keptShaped = first.reshape([-1]);
    const before = (await first.data()).slice();
    runSteps(opt, params, 0, 1);
    const after = await first.data();
    assert.ok(after.some((x, i) => x !== before[i]), "the parameter moved");
    assert.deepEqual(Array.from(await kept.data()), Array.from(before), "its clone did not");
    assert.deepEqual(Array.from(await keptShaped.data()), Array.from(before), "nor its reshape");
    // p2 now lives on the GPU; reading it makes tfjs cache a CPU copy, which the next step stales.
    const third = params[2]!.variable;
    const thirdBefore = (await third.data()).slice();
    runSteps(opt, params, 1, 2);
    const thirdAfter = await third.data();
    assert.ok(thirdAfter.some((x, i) => x !== thirdBefore[i]), "a read after the step is fresh");
    const expected = await trained("cpu", 2);
    await useNovalabWebGpu();
    assertClose(thirdAfter as Float32Array, expected.get("p2")!, "p2 after two steps", TOL);
    tf.dispose([kept, keptShaped]);
    opt.dispose();
    tf.dispose(params.map((p) => p.variable));
  },
});

Deno.test({
  name: "kernels/adamw: the kernel refuses to update a parameter whose buffer is shared",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const p = tf.tidy(() => tf.variable(tf.ones([3])));
    const shared = tf.clone(p);
    const run = () =>
      tf.engine().runKernel(ADAMW_GROUP, {
        state: tf.zeros([6]),
        scalars: tf.ones([adamWScalarsWidth()]),
        g0: tf.ones([3]),
        p0: p,
      }, { ends: [3], present: 1, scalarsAt: 0, beta1: 0.9, beta2: 0.99, eps: 1e-8 });
    assert.throws(
      () => tf.tidy(run),
      /p0 is updated in place, but shares its buffer with 1 other tensor/,
    );
    assert.deepEqual(Array.from(await shared.data()), [1, 1, 1]);
    tf.dispose([p, shared]);
  },
});

Deno.test({
  name: "kernels/adamw: switching between stock and novalab kernels repacks the moments",
  ...opts,
  async fn() {
    const expected = await trained("cpu", 3);
    await useNovalabWebGpu();
    restoreStockKernels();
    try {
      const params = makeParams();
      const opt = new AdamW(params, HYPER);
      assert.ok(!opt.fused, "stock kernels: the reference composition");
      runSteps(opt, params, 0, 1);
      installNovalabKernels();
      runSteps(opt, params, 1, 2);
      assert.ok(opt.fused, "novalab kernels: packed moments");
      restoreStockKernels();
      runSteps(opt, params, 2, 3);
      assert.ok(!opt.fused);
      assertSame(await snapshot(opt, params), expected);
      opt.dispose();
      tf.dispose(params.map((p) => p.variable));
    } finally {
      installNovalabKernels();
    }
  },
});

Deno.test({
  name: "kernels/adamw: fused checkpoints have the reference layout and resume exactly",
  ...opts,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-adamw-" });
    try {
      // Reference file layout (CPU) and a fused run saved after 2 of 4 steps.
      await tf.setBackend("cpu");
      const refParams = makeParams();
      const ref = new AdamW(refParams, HYPER);
      runSteps(ref, refParams, 0, 2);
      const refFile = await saveCheckpoint(`${dir}/ref`, {
        step: 2,
        parameters: refParams,
        optimizer: ref,
        metadata: {},
      });
      await useNovalabWebGpu();
      const params = makeParams();
      const opt = new AdamW(params, HYPER);
      runSteps(opt, params, 0, 2);
      const file = await saveCheckpoint(`${dir}/fused`, {
        step: 2,
        parameters: params,
        optimizer: opt,
        metadata: {},
      });
      const stored = decodeSafetensors(await Deno.readFile(file)).tensors;
      const refStored = decodeSafetensors(await Deno.readFile(refFile)).tensors;
      assert.deepEqual(
        [...stored].map(([k, t]) => [k, t.shape]),
        [...refStored].map(([k, t]) => [k, t.shape]),
        "same tensor names and shapes as the reference optimiser writes",
      );
      for (const [k, t] of refStored) assertClose(stored.get(k)!.data, t.data, `file ${k}`, TOL);
      runSteps(opt, params, 2, 4);
      const uninterrupted = await snapshot(opt, params);
      // Resume the fused file on WebGPU (fused) and on the CPU (reference).
      for (const backend of ["webgpu", "cpu"] as const) {
        if (backend === "cpu") await tf.setBackend("cpu");
        const again = makeParams();
        const resumed = new AdamW(again, HYPER);
        assert.equal(resumed.fused, backend === "webgpu");
        await loadCheckpoint(file, { parameters: again, optimizer: resumed });
        assert.equal(resumed.step, 2);
        runSteps(resumed, again, 2, 4);
        assertSame(await snapshot(resumed, again), uninterrupted);
        resumed.dispose();
        tf.dispose(again.map((p) => p.variable));
      }
      await tf.setBackend("webgpu");
      opt.dispose();
      ref.dispose();
      tf.dispose([...params, ...refParams].map((p) => p.variable));
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
