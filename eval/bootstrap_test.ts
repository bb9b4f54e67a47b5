import assert from "node:assert/strict";
import { Rng } from "../core/rng.ts";
import { auroc, weightedMean } from "./classification.ts";
import { bootstrapCI, quantile, resampleWeights } from "./bootstrap.ts";

Deno.test("quantile interpolates like NumPy's default", () => {
  const v = [1, 2, 3, 4];
  assert.equal(quantile(v, 0), 1);
  assert.equal(quantile(v, 0.25), 1.75);
  assert.equal(quantile(v, 0.5), 2.5);
  assert.equal(quantile(v, 1), 4);
  assert.ok(Number.isNaN(quantile([], 0.5)));
});

Deno.test("resampleWeights: n draws with replacement, seeded", () => {
  const a = resampleWeights(50, new Rng(3));
  assert.equal(a.reduce((s, w) => s + w, 0), 50);
  assert.deepEqual(a, resampleWeights(50, new Rng(3)));
  assert.notDeepEqual(a, resampleWeights(50, new Rng(4)));
  // A resample leaves out ≈ (1 − 1/n)^n ≈ 36.8% of the samples; over 200 resamples of 100:
  const rng = new Rng(0);
  let zeros = 0;
  for (let r = 0; r < 200; r++) zeros += resampleWeights(100, rng).filter((w) => w === 0).length;
  assert.ok(Math.abs(zeros / 20000 - 0.366) < 0.01, `${zeros / 20000}`);
});

Deno.test("bootstrap CI of a mean covers the true mean ≈ 95% of the time", () => {
  // 300 synthetic data sets of 100 draws from N(2, 1); each gets a 1000-resample interval.
  const data = new Rng(11);
  let covered = 0, width = 0;
  const trials = 300, n = 100;
  for (let t = 0; t < trials; t++) {
    const x = Float64Array.from({ length: n }, () => 2 + data.normal());
    const [ci] = bootstrapCI(n, (w) => weightedMean(x, w), { seed: t });
    if (ci!.low <= 2 && 2 <= ci!.high) covered++;
    width += ci!.high - ci!.low;
    assert.equal(ci!.valid, 1000);
  }
  // Percentile intervals are slightly narrow for n = 100 (≈ 94%); 300 trials: ±2.5% sd 1.3%.
  assert.ok(covered / trials >= 0.9 && covered / trials <= 0.985, `coverage ${covered / trials}`);
  // Width ≈ 2 · 1.96 · σ/√n = 0.39.
  assert.ok(Math.abs(width / trials - 0.392) < 0.03, `mean width ${width / trials}`);
});

Deno.test("bootstrap of several statistics shares resamples; invalid resamples are skipped", () => {
  const scores = [0.1, 0.2, 0.3, 0.4, 0.9, 0.8];
  const targets = [0, 0, 0, 1, 1, 1];
  const opts = { seed: 5, resamples: 400 };
  const [auc, copy, pos] = bootstrapCI(
    6,
    (w) => [auroc(scores, targets, { weights: w }), auroc(scores, targets, { weights: w }), w[5]!],
    opts,
  );
  assert.deepEqual(auc, copy);
  // Perfectly separated data: every defined resample has AUROC 1.
  assert.equal(auc!.low, 1);
  assert.equal(auc!.high, 1);
  // A resample with no positives (P = (1/2)^6 each) or no negatives is undefined and skipped.
  assert.ok(auc!.valid < 400 && auc!.valid > 370, `${auc!.valid}`);
  assert.equal(pos!.valid, 400);
  assert.deepEqual(bootstrapCI(6, (w) => auroc(scores, targets, { weights: w }), opts)[0], auc);
});

Deno.test("bootstrap options are checked with the value and what was expected", () => {
  assert.throws(
    () => bootstrapCI(5, () => 0, { resamples: 0 }),
    /resamples must be a positive integer \(e\.g\. 1000\), got 0/,
  );
  assert.throws(
    () => bootstrapCI(5, () => 0, { level: 95 }),
    /level must be in \(0, 1\) \(e\.g\. 0\.95\), got 95/,
  );
  assert.throws(() => bootstrapCI(0, () => 0), /at least one sample, got n = 0/);
});
