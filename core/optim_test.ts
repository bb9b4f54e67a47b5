import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { AdamW } from "./optim.ts";
import type { Parameter } from "./types.ts";

await tf.setBackend("cpu");

function param(name: string, values: number[], decay = true): Parameter {
  return { name, variable: tf.tidy(() => tf.variable(tf.tensor1d(values))), decay };
}

function grads(entries: [string, number[]][]): Map<string, tf.Tensor> {
  return new Map(entries.map(([k, v]) => [k, tf.tensor1d(v)]));
}

function disposeMap(m: Map<string, tf.Tensor>): void {
  for (const t of m.values()) t.dispose();
}

function assertClose(actual: ArrayLike<number>, expected: ArrayLike<number>, tol: number): void {
  assert.equal(actual.length, expected.length);
  for (let i = 0; i < actual.length; i++) {
    assert.ok(
      Math.abs(actual[i] - expected[i]) <= tol,
      `index ${i}: ${actual[i]} vs ${expected[i]} (tol ${tol})`,
    );
  }
}

Deno.test("AdamW: matches a hand-computed two-step reference (with decay)", () => {
  const p = param("w", [1.0, -2.0, 0.5]);
  const opt = new AdamW([p], { beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0.1 });
  const g1 = grads([["w", [0.1, -0.2, 0.3]]]);
  opt.apply(g1, 0.01);
  // Step 1: m̂ = g, v̂ = g², so the Adam term is sign(g); p·(1 − 0.01·0.1) − 0.01·sign(g).
  assertClose(p.variable.dataSync(), [0.989, -1.988, 0.4895], 1e-6);
  const g2 = grads([["w", [-0.05, 0.4, 0.0]]]);
  opt.apply(g2, 0.01);
  // Step 2, element 0: m = 0.004, m̂ = 0.004/0.19, v = 1.249e-5, v̂ = v/0.001999,
  // p = 0.989 − 0.01·(m̂/(√v̂+ε) + 0.1·0.989) = 0.98534763 (float64 reference).
  assertClose(p.variable.dataSync(), [0.9853476309, -1.9896730357, 0.4823099181], 1e-6);
  assert.equal(opt.step, 2);
  const state = opt.state();
  assertClose(state.get("optim.m.w")!.dataSync(), [0.004, 0.022, 0.027], 1e-8);
  assertClose(state.get("optim.v.w")!.dataSync(), [1.249e-5, 1.9996e-4, 8.991e-5], 1e-10);
  assert.equal(state.get("optim.step")!.dtype, "int32");
  assert.equal(state.get("optim.step")!.dataSync()[0], 2);
  for (const m of [g1, g2, state]) disposeMap(m);
  opt.dispose();
  p.variable.dispose();
});

Deno.test("AdamW: with weightDecay 0 matches tf.train.adam over several steps", () => {
  const init = [[0.3, -1.2, 2.0, 0.0], [0.7, 0.1]];
  const ours = [param("a", init[0]), param("b", init[1])];
  const ref = [tf.variable(tf.tensor1d(init[0])), tf.variable(tf.tensor1d(init[1]))];
  const opt = new AdamW(ours, { beta1: 0.8, beta2: 0.99, eps: 1e-6, weightDecay: 0 });
  const lr = 0.05;
  const adam = tf.train.adam(lr, 0.8, 0.99, 1e-6);
  for (let step = 0; step < 6; step++) {
    const ga = init[0].map((_, i) => Math.sin(step * 1.3 + i) * (i + 1));
    const gb = init[1].map((_, i) => Math.cos(step * 0.7 + i) * 0.1);
    const g = grads([["a", ga], ["b", gb]]);
    opt.apply(g, lr);
    adam.applyGradients([
      { name: ref[0].name, tensor: g.get("a")! },
      { name: ref[1].name, tensor: g.get("b")! },
    ]);
    disposeMap(g);
  }
  assertClose(ours[0].variable.dataSync(), ref[0].dataSync(), 1e-5);
  assertClose(ours[1].variable.dataSync(), ref[1].dataSync(), 1e-5);
  assert.ok(Math.abs(ours[0].variable.dataSync()[0] - init[0][0]) > 0.05, "it did move");
  adam.dispose();
  opt.dispose();
  for (const v of [...ours.map((p) => p.variable), ...ref]) v.dispose();
});

Deno.test("AdamW: no decay on parameters whose decay flag is false", () => {
  const decayed = param("layer.weight", [1, 2, 3], true);
  const masked = param("layer.bias", [1, 2, 3], false);
  const opt = new AdamW([decayed, masked], { weightDecay: 0.5 });
  const g = grads([["layer.weight", [0, 0, 0]], ["layer.bias", [0, 0, 0]]]);
  opt.apply(g, 0.1);
  // Zero gradient: the Adam term is 0, so only decay can move a parameter.
  assertClose(masked.variable.dataSync(), [1, 2, 3], 0);
  assertClose(decayed.variable.dataSync(), [0.95, 1.9, 2.85], 1e-6);
  disposeMap(g);
  opt.dispose();
  decayed.variable.dispose();
  masked.variable.dispose();
});

Deno.test("AdamW: a parameter's lrScale k steps it as lr·k, decay included", () => {
  const lr = 0.05;
  const scaled = { ...param("enc.w", [1.0, -2.0, 0.5]), lrScale: 0.1 };
  const plain = param("head.w", [0.3, 0.2, -0.1]);
  const opt = new AdamW([scaled, plain], { weightDecay: 0.1 });
  // The reference: the same parameter alone at lr·k.
  const alone = param("enc.w", [1.0, -2.0, 0.5]);
  const ref = new AdamW([alone], { weightDecay: 0.1 });
  const head = param("head.w", [0.3, 0.2, -0.1]);
  const headRef = new AdamW([head], { weightDecay: 0.1 });
  for (let step = 0; step < 3; step++) {
    const g = [[0.1, -0.2, 0.3], [-0.05, 0.4, 0.01], [0.2, 0.2, -0.3]][step]!;
    const both = grads([["enc.w", g], ["head.w", g]]);
    opt.apply(both, lr / (step + 1));
    const one = grads([["enc.w", g]]);
    ref.apply(one, (lr / (step + 1)) * 0.1);
    const other = grads([["head.w", g]]);
    headRef.apply(other, lr / (step + 1));
    for (const m of [both, one, other]) disposeMap(m);
  }
  assertClose(scaled.variable.dataSync(), alone.variable.dataSync(), 1e-7);
  assertClose(plain.variable.dataSync(), head.variable.dataSync(), 0);
  // Step 1 of the scaled one: p·(1 − lr·k·wd) − lr·k·sign(g).
  assert.ok(Math.abs(scaled.variable.dataSync()[0]! - 1) < 0.02, "it moved a tenth as far");
  for (const o of [opt, ref, headRef]) o.dispose();
  for (const p of [scaled, plain, alone, head]) p.variable.dispose();
});

/** Gradients of four steps for the late-start cases. */
const LATE_GRADS = [[0.1, -0.2, 0.3], [-0.05, 0.4, 0.01], [0.2, 0.2, -0.3], [0.3, -0.1, 0.2]];

/**
 * A late parameter `enc.w` (with `extra`: its `startStep`, `warmup`) beside a plain `head.w` in
 * one AdamW, and the same `enc.w` alone in a reference AdamW (PyTorch's per-parameter state).
 */
function lateStart(extra: Partial<Parameter>) {
  const late = { ...param("enc.w", [1.0, -2.0, 0.5]), ...extra };
  const head = param("head.w", [0.3, 0.2, -0.1]);
  const alone = param("enc.w", [1.0, -2.0, 0.5]);
  const opt = new AdamW([late, head], { weightDecay: 0.1 });
  const ref = new AdamW([alone], { weightDecay: 0.1 });
  const dispose = () => {
    for (const o of [opt, ref]) o.dispose();
    for (const p of [late, head, alone]) p.variable.dispose();
  };
  return { late, head, alone, opt, ref, dispose };
}

Deno.test("AdamW: a parameter starting at step k is bias-corrected from its own first update", () => {
  const lr = 0.05;
  // Trained from step 2 on (freeze: { until: 2 }): steps 0 and 1 give it no gradient. The
  // reference: the same parameter in an optimiser of its own from step 2 on.
  const { late, alone, opt, ref, dispose } = lateStart({ startStep: 2 });
  const gs = LATE_GRADS;
  for (let step = 0; step < 4; step++) {
    const g = gs[step]!;
    const given = grads(step < 2 ? [["head.w", g]] : [["enc.w", g], ["head.w", g]]);
    opt.apply(given, lr / (step + 1));
    disposeMap(given);
    if (step < 2) {
      assertClose(late.variable.dataSync(), [1.0, -2.0, 0.5], 0);
      continue;
    }
    const one = grads([["enc.w", g]]);
    ref.apply(one, lr / (step + 1));
    disposeMap(one);
    assertClose(late.variable.dataSync(), alone.variable.dataSync(), 1e-7);
  }
  // Its first update was a full lr·sign(g) step (bias-corrected at t = 1, not t = 3).
  assert.equal(opt.step, 4);
  dispose();
});

Deno.test("AdamW: a late parameter's own count survives skipped steps and a checkpoint", async () => {
  const lr = 0.05;
  const { late, head, alone, opt, ref, dispose } = lateStart({ startStep: 2 });
  const gs = LATE_GRADS;
  // Step 0 is taken back (a non-finite step the guard skipped): the run's count is 1 behind its
  // step index when enc.w starts, and enc.w's own count must still go 1, 2, 3.
  const headOnly = grads([["head.w", gs[0]!]]);
  opt.apply(headOnly, lr);
  opt.undoSteps(1);
  disposeMap(headOnly);
  let resumed: AdamW | undefined;
  for (let step = 1; step < 4; step++) {
    const g = gs[step]!;
    const given = grads(step < 2 ? [["head.w", g]] : [["enc.w", g], ["head.w", g]]);
    (resumed ?? opt).apply(given, lr);
    disposeMap(given);
    if (step < 2) continue;
    const one = grads([["enc.w", g]]);
    ref.apply(one, lr);
    disposeMap(one);
    assertClose(late.variable.dataSync(), alone.variable.dataSync(), 1e-7);
    if (step === 2) {
      // Through a checkpoint: optim.first.2 holds the count before step 2's starters' first update.
      const state = opt.state();
      assert.equal(state.get("optim.first.2")?.dataSync()[0], 1);
      resumed = new AdamW([late, head], { weightDecay: 0.1 });
      await resumed.load(state);
      for (const t of state.values()) t.dispose();
    }
  }
  resumed!.dispose();
  dispose();
});

Deno.test("AdamW: a late start whose first update is taken back counts from its next one", () => {
  const lr = 0.05;
  // Two parameters of one late node; only `a` gets a gradient at first (`b`, like an unused
  // norm, shares the node's count all the same).
  const a = { ...param("enc.a", [1.0, -2.0]), startStep: 1 };
  const b = { ...param("enc.b", [0.5, 0.25]), startStep: 1 };
  const opt = new AdamW([a, b], { weightDecay: 0 });
  const aRef = param("enc.a", [1.0, -2.0]), bRef = param("enc.b", [0.5, 0.25]);
  const ref = new AdamW([aRef, bRef], { weightDecay: 0 });
  const g = (x: number) => [x, -2 * x];
  // Steps 0 (before the start) and 1 (its first update) are gated off on the device (a step
  // report whose `ok` is 0: a non-finite step) and their count taken back.
  const skipped = tf.tensor1d([1, 0]);
  for (const step of [0, 1]) {
    const given = grads(step === 0 ? [] : [["enc.a", g(0.3)]]);
    opt.apply(given, lr, undefined, skipped);
    disposeMap(given);
  }
  skipped.dispose();
  opt.undoSteps(2);
  assert.equal(opt.step, 0);
  // a's next update is its first again, then b joins with the node's count.
  for (
    const [step, names] of [[2, ["enc.a"]], [3, ["enc.a", "enc.b"]], [4, [
      "enc.a",
      "enc.b",
    ]]] as const
  ) {
    const entries = names.map((n) => [n, g(0.1 * step)] as [string, number[]]);
    const [mine, theirs] = [grads(entries), grads(entries)];
    opt.apply(mine, lr);
    ref.apply(theirs, lr);
    for (const m of [mine, theirs]) disposeMap(m);
    assertClose(a.variable.dataSync(), aRef.variable.dataSync(), 1e-7);
    assertClose(b.variable.dataSync(), bRef.variable.dataSync(), 1e-7);
  }
  for (const o of [opt, ref]) o.dispose();
  for (const p of [a, b, aRef, bRef]) p.variable.dispose();
});

Deno.test("AdamW: a late parameter's warm-up ramps its rate over its own first updates", () => {
  const lr = 0.05;
  const { late, alone, opt, ref, dispose } = lateStart({ startStep: 1, warmup: 2 });
  const gs = LATE_GRADS;
  for (let step = 0; step < 4; step++) {
    const g = gs[step]!;
    const given = grads(step < 1 ? [["head.w", g]] : [["enc.w", g], ["head.w", g]]);
    opt.apply(given, lr);
    disposeMap(given);
    if (step < 1) continue;
    // Its updates 1, 2, 3: at lr/2, lr, lr.
    const one = grads([["enc.w", g]]);
    ref.apply(one, lr * Math.min(1, step / 2));
    disposeMap(one);
    assertClose(late.variable.dataSync(), alone.variable.dataSync(), 1e-7);
  }
  dispose();
});

Deno.test("AdamW: parameters without a gradient are untouched", () => {
  const a = param("a", [1, 1]), b = param("b", [5, 5]);
  const opt = new AdamW([a, b], { weightDecay: 0.1 });
  const g = grads([["a", [1, -1]]]);
  opt.apply(g, 0.1);
  assertClose(b.variable.dataSync(), [5, 5], 0);
  assert.notEqual(a.variable.dataSync()[0], 1);
  disposeMap(g);
  opt.dispose();
  a.variable.dispose();
  b.variable.dispose();
});

function runSteps(opt: AdamW, from: number, to: number): void {
  for (let s = from; s < to; s++) {
    const g = grads([["w", [Math.sin(s), Math.cos(s), s * 0.1]], ["bias", [Math.sin(2 * s)]]]);
    opt.apply(g, 0.01 * (1 + s));
    disposeMap(g);
  }
}

Deno.test("AdamW: save state, load into a fresh optimiser, continue == uninterrupted", async () => {
  const mk = () => [param("w", [0.5, -0.5, 1]), param("bias", [0.2], false)];
  const full = mk();
  const optFull = new AdamW(full, { weightDecay: 0.05 });
  runSteps(optFull, 0, 7);

  const first = mk();
  const optA = new AdamW(first, { weightDecay: 0.05 });
  runSteps(optA, 0, 3);
  // Simulate a checkpoint: copy parameters and optimiser state out, then rebuild everything.
  const saved = optA.state();
  const savedParams = first.map((p) => tf.clone(p.variable));
  optA.dispose();
  const resumed = mk();
  resumed.forEach((p, i) => p.variable.assign(savedParams[i]));
  const optB = new AdamW(resumed, { weightDecay: 0.05 });
  await optB.load(saved);
  assert.equal(optB.step, 3);
  runSteps(optB, 3, 7);

  for (let i = 0; i < full.length; i++) {
    assert.deepEqual(resumed[i].variable.dataSync(), full[i].variable.dataSync());
  }
  disposeMap(saved);
  for (const t of savedParams) t.dispose();
  for (const p of [...full, ...first, ...resumed]) p.variable.dispose();
  optFull.dispose();
  optB.dispose();
});

Deno.test("AdamW.load: validates the state and names what is wrong", async () => {
  const p = param("w", [1, 2]);
  const opt = new AdamW([p]);
  const good = opt.state();
  const withExtra = new Map(good);
  withExtra.set("w", tf.tensor1d([9, 9])); // non-optim keys are ignored
  await opt.load(withExtra);
  withExtra.get("w")!.dispose();

  const cases: [Map<string, tf.Tensor>, RegExp][] = [
    [
      new Map([...good].filter(([k]) => k !== "optim.step")),
      /'optim.step' must be a scalar, got nothing/,
    ],
    [new Map([...good, ["optim.step", tf.scalar(-1, "int32")]]), /integer >= 0, got -1/],
    [
      new Map([...good].filter(([k]) => k !== "optim.v.w")),
      /'optim.v.w' is missing; expected shape \[2\]/,
    ],
    [
      new Map([...good, ["optim.m.w", tf.zeros([3])]]),
      /'optim.m.w' has shape \[3\]; expected shape \[2\]/,
    ],
    [
      new Map([...good, ["optim.m.other", tf.zeros([2])]]),
      /unknown optimiser state 'optim.m.other'.*one of: w/,
    ],
  ];
  for (const [state, re] of cases) {
    await assert.rejects(() => opt.load(state), re);
    for (const [k, t] of state) if (good.get(k) !== t) t.dispose();
  }
  disposeMap(good);
  opt.dispose();
  p.variable.dispose();
});

Deno.test("AdamW: rejects bad options, gradients and learning rates", () => {
  const p = param("w", [1, 2]);
  assert.throws(() => new AdamW([p], { beta1: 1 }), /beta1 must be in \[0, 1\).*got 1/);
  assert.throws(() => new AdamW([p], { weightDecay: -1 }), /weightDecay must be .*got -1/);
  assert.throws(() => new AdamW([p, p]), /duplicate parameter name 'w'/);
  const opt = new AdamW([p]);
  const wrongName = grads([["v", [1, 1]]]);
  const wrongShape = grads([["w", [1, 1, 1]]]);
  assert.throws(() => opt.apply(wrongName, 0.1), /unknown parameter 'v'; known: w/);
  assert.throws(() => opt.apply(wrongShape, 0.1), /shape \[3\]; expected \[2\]/);
  const ok = grads([["w", [1, 1]]]);
  assert.throws(() => opt.apply(ok, NaN), /lr must be finite and >= 0, got NaN/);
  assert.equal(opt.step, 0, "a rejected call does not count as a step");
  for (const m of [wrongName, wrongShape, ok]) disposeMap(m);
  opt.dispose();
  p.variable.dispose();
});

Deno.test("AdamW: no tensor leaks across steps, state() and dispose()", () => {
  const before = tf.memory().numTensors;
  const params = [param("w", [0.5, -0.5, 1]), param("bias", [0.2], false)];
  const opt = new AdamW(params);
  runSteps(opt, 0, 1);
  const afterOne = tf.memory().numTensors;
  runSteps(opt, 1, 10);
  assert.equal(tf.memory().numTensors, afterOne, "steady state across steps");
  disposeMap(opt.state());
  assert.equal(tf.memory().numTensors, afterOne);
  opt.dispose();
  for (const p of params) p.variable.dispose();
  assert.equal(tf.memory().numTensors, before);
});
