/**
 * The fused WebGPU AdamW (packed moments, `kernels/adamw*.ts`) against the
 * reference AdamW (`core/optim.ts`'s op composition) on tfjs's CPU backend:
 * several steps with a changing learning rate, parameters with and without
 * weight decay, odd sizes, a size-1 parameter, two groups, gradients missing in
 * one step; the dispatch count; switching layouts; and checkpoints written by
 * the fused optimiser (same names and shapes as the reference's, and a resumed
 * run equal to an uninterrupted one). Runs on any WebGPU adapter, including
 * Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { AdamW } from "../core/optim.ts";
import { loadCheckpoint, saveCheckpoint } from "../core/checkpoint.ts";
import { decodeSafetensors } from "../core/safetensors.ts";
import type { Parameter } from "../core/types.ts";
import { groupParameters } from "./adamw_state.ts";
import { ADAMW_GROUP_SLOTS } from "./adamw_program.ts";
import { installNovalabKernels, restoreStockKernels } from "./install.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/adamw_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** fp32: a few steps of O(1) updates scaled by lr ≤ 0.05, compared entry by entry. */
const TOL = { atol: 1e-6, rtol: 1e-5 };
/** `[shape, decay]`: 8 parameters → groups of 6 and 2; odd sizes, one of size 1, one > 64. */
const SPECS: [number[], boolean][] = [
  [[3, 5], true],
  [[5], false],
  [[1], false],
  [[7, 3], true],
  [[4], false],
  [[2, 2, 3], true],
  [[13, 11], true],
  [[9], false],
];
const HYPER = { beta1: 0.8, beta2: 0.95, eps: 1e-6, weightDecay: 0.1 };

function makeParams(): Parameter[] {
  return SPECS.map(([shape, decay], i) => ({
    name: `p${i}`,
    decay,
    variable: tf.variable(tf.tensor(values(shape.reduce((a, d) => a * d, 1), i + 1), shape)),
  }));
}

/** Gradients of step `s` (0-based); step 1 has none for p1 and p7. */
function gradsAt(params: Parameter[], s: number): Map<string, tf.Tensor> {
  const out = new Map<string, tf.Tensor>();
  params.forEach((p, i) => {
    if (s === 1 && (i === 1 || i === 7)) return;
    const g = values(p.variable.size, 100 * (s + 1) + i).map((x) => x * (1 + i));
    out.set(p.name, tf.tensor(g, p.variable.shape));
  });
  return out;
}

function runSteps(opt: AdamW, params: Parameter[], from: number, to: number): void {
  for (let s = from; s < to; s++) {
    const grads = gradsAt(params, s);
    opt.apply(grads, 0.05 / (s + 1));
    tf.dispose([...grads.values()]);
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
async function trained(backend: "cpu" | "webgpu", steps: number) {
  if (backend === "webgpu") await useNovalabWebGpu();
  else await tf.setBackend("cpu");
  const params = makeParams();
  const opt = new AdamW(params, HYPER);
  assert.equal(opt.fused, backend === "webgpu");
  runSteps(opt, params, 0, steps);
  const snap = await snapshot(opt, params);
  opt.dispose();
  tf.dispose(params.map((p) => p.variable));
  return snap;
}

Deno.test("kernels/adamw: parameters are grouped by slot count and state bytes", () => {
  assert.deepEqual(groupParameters([1, 2, 3, 4, 5, 6, 7, 8], 1e9), [[0, 1, 2, 3, 4, 5], [6, 7]]);
  assert.deepEqual(groupParameters([10, 10, 10], 8 * 20), [[0, 1], [2]]);
  assert.deepEqual(groupParameters([50, 1], 8 * 20), [[0], [1]], "an oversize one stands alone");
  assert.equal(ADAMW_GROUP_SLOTS, 6);
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
  name: "kernels/adamw: one step is a moments dispatch per group + one per parameter, no leaks",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const params = makeParams();
    const opt = new AdamW(params, HYPER);
    runSteps(opt, params, 0, 1);
    const before = tf.memory().numTensors;
    counter.reset();
    runSteps(opt, params, 2, 3);
    assert.deepEqual(counter.read().byProgram, {
      NovalabAdamWMomentsProgram: 2,
      NovalabAdamWParamProgram: SPECS.length,
    });
    counter.reset();
    runSteps(opt, params, 1, 2); // p1 and p7 have no gradient: no dispatch for them
    assert.equal(counter.read().byProgram["NovalabAdamWParamProgram"], SPECS.length - 2);
    assert.equal(tf.memory().numTensors, before, "no tensors leak across fused steps");
    opt.dispose();
    tf.dispose(params.map((p) => p.variable));
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
