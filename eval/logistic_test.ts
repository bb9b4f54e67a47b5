import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import { argmaxRows } from "./classification.ts";
import { type Matrix, matrixFromRows } from "./linalg.ts";
import { featureStats, fitLogistic, logisticScores, standardize } from "./logistic.ts";

await tf.setBackend("cpu");

Deno.test("fitLogistic without informative features learns the class frequencies", async () => {
  // Zero features: only the bias matters; the optimum is softmax(b) = [0.6, 0.3, 0.1].
  const y = [0, 0, 0, 0, 0, 0, 1, 1, 1, 2];
  const x: Matrix = { rows: 10, cols: 1, data: new Float64Array(10) };
  const before = tf.memory().numTensors;
  const model = await fitLogistic(x, y, { classes: 3 });
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  const z = Math.max(...model.bias);
  const e = Array.from(model.bias, (b) => Math.exp(b - z));
  const p = e.map((v) => v / e.reduce((a, b) => a + b, 0));
  [0.6, 0.3, 0.1].forEach((q, c) => assert.ok(Math.abs(p[c]! - q) < 2e-3, `p[${c}] = ${p[c]}`));
  // The loss is then the entropy of the class frequencies.
  const entropy = -[0.6, 0.3, 0.1].reduce((s, q) => s + q * Math.log(q), 0);
  assert.ok(Math.abs(model.loss - entropy) < 1e-4, `${model.loss} vs ${entropy}`);
});

/** The objective's gradient at a fitted model, in float64: ∇W = Xᵀ(P − Y)/N + λW, ∇b = mean(P − Y). */
function gradientAt(
  model: Awaited<ReturnType<typeof fitLogistic>>,
  data: { x: Matrix; y: number[]; classes: number; lambda: number },
): Float64Array {
  const { x, y, classes: c, lambda } = data;
  const [n, d] = [x.rows, x.cols];
  const scores = logisticScores(model, x);
  const gw = new Float64Array(d * c), gb = new Float64Array(c);
  for (let i = 0; i < n; i++) {
    const row = Array.from({ length: c }, (_, k) => scores.data[i * c + k]!);
    const z = Math.max(...row);
    const e = row.map((v) => Math.exp(v - z));
    const sum = e.reduce((a, b) => a + b, 0);
    e.forEach((v, k) => {
      const r = v / sum - (y[i] === k ? 1 : 0);
      gb[k]! += r / n;
      for (let j = 0; j < d; j++) gw[j * c + k]! += (x.data[i * d + j]! * r) / n;
    });
  }
  gw.forEach((g, i) => (gw[i] = g + lambda * model.weights.data[i]!));
  return Float64Array.from([...gw, ...gb]);
}

/** Overlapping Gaussian classes: 60 samples, 4 features, 3 classes. */
function overlapping(): { x: Matrix; y: number[] } {
  const rng = new Rng(4);
  const y = Array.from({ length: 60 }, (_, i) => i % 3);
  const x = matrixFromRows(
    y.map((label) => Array.from({ length: 4 }, (_, k) => rng.normal() + (k === label ? 1.5 : 0))),
  );
  return { x, y };
}

Deno.test("fitLogistic (L-BFGS, the defaults) reaches the optimum at every swept λ (KKT)", async () => {
  const { x, y } = overlapping();
  const before = tf.memory().numTensors;
  for (const lambda of [0.1, 1e-2, 1e-3, 1e-4]) {
    const model = await fitLogistic(x, y, { classes: 3, weightDecay: lambda });
    assert.equal(model.converged, true, `λ ${lambda}: converged in ${model.iterations}`);
    const g = gradientAt(model, { x, y, classes: 3, lambda });
    const largest = Math.max(...g.map(Math.abs));
    assert.ok(largest < 2e-4, `λ ${lambda}: largest gradient entry ${largest}`);
  }
  assert.equal(tf.memory().numTensors, before, "no tensors leak");
  // A larger λ shrinks the weights.
  const weak = await fitLogistic(x, y, { classes: 3, weightDecay: 0.01 });
  const strong = await fitLogistic(x, y, { classes: 3, weightDecay: 0.1 });
  assert.ok(Math.hypot(...strong.weights.data) < Math.hypot(...weak.weights.data));
});

Deno.test("fitLogistic solver: adam is the fixed-budget fit, close to the optimum at λ = 0.1", async () => {
  const { x, y } = overlapping();
  const model = await fitLogistic(x, y, {
    classes: 3,
    weightDecay: 0.1,
    solver: "adam",
    steps: 1500,
    lr: 0.05,
  });
  assert.equal(model.converged, undefined);
  assert.equal(model.iterations, 1500);
  const g = gradientAt(model, { x, y, classes: 3, lambda: 0.1 });
  assert.ok(Math.hypot(...g) < 2e-3, `gradient norm at the solution ${Math.hypot(...g)}`);
  // The iteration cap, when reached, is reported as not converged.
  const capped = await fitLogistic(x, y, { classes: 3, maxIterations: 5 });
  assert.equal(capped.iterations, 5);
  assert.equal(capped.converged, false);
});

Deno.test("fitLogistic separates separable classes; standardize uses train statistics", async () => {
  const x = matrixFromRows([[0, 10], [1, 11], [0, 30], [1, 31], [5, 10], [6, 12]]);
  const y = [0, 0, 1, 1, 2, 2];
  const stats = featureStats(x);
  assert.deepEqual([...stats.mean], [13 / 6, 104 / 6]);
  const xs = standardize(x, stats);
  const model = await fitLogistic(xs, y, { classes: 3, steps: 300, lr: 0.1 });
  assert.deepEqual([...argmaxRows(logisticScores(model, xs))], y);
  await assert.rejects(
    fitLogistic(x, [0, 1, 5, 0, 0, 0], { classes: 3 }),
    /label 5 of sample 2 is outside \[0, 3\)/,
  );
  await assert.rejects(fitLogistic(x, [0, 1], { classes: 3 }), /6 feature rows but 2 labels/);
});
