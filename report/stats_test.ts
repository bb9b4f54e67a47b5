import assert from "node:assert/strict";
import { mean, sampleStd, summarizeSeeds } from "./stats.ts";

const close = (a: number, b: number, tol = 1e-12) =>
  assert.ok(Math.abs(a - b) <= tol, `${a} ≉ ${b}`);

Deno.test("mean and sample std (n − 1) on hand-computable values", () => {
  assert.equal(mean([2, 4, 4, 4, 5, 5, 7, 9]), 5);
  close(sampleStd([2, 4, 4, 4, 5, 5, 7, 9]), Math.sqrt(32 / 7));
  close(mean([0.9, 0.92, 0.94]), 0.92);
  close(sampleStd([0.9, 0.92, 0.94]), 0.02);
  assert.equal(sampleStd([1, 1, 1]), 0);
  assert.ok(Number.isNaN(mean([])));
  assert.ok(Number.isNaN(sampleStd([3])));
});

Deno.test("summarizeSeeds: the bootstrap CI holds the mean, stays in the range and is reproducible", () => {
  const values = [0.9, 0.92, 0.94];
  const a = summarizeSeeds(values), b = summarizeSeeds(values);
  assert.deepEqual(a, b);
  assert.equal(a.n, 3);
  assert.deepEqual(a.values, values);
  assert.ok(a.ciLow < a.mean && a.mean < a.ciHigh, `${a.ciLow} < ${a.mean} < ${a.ciHigh}`);
  assert.ok(a.ciLow >= 0.9 && a.ciHigh <= 0.94);
  // With 3 seeds a resample repeats one seed thrice with probability 1/27 > 2.5 %, so
  // the 95 % percentile interval is the range of the seeds.
  close(a.ciLow, 0.9);
  close(a.ciHigh, 0.94);
  const five = summarizeSeeds([1, 2, 3, 4, 5]);
  assert.ok(five.ciLow > 1 && five.ciLow < 3 && five.ciHigh > 3 && five.ciHigh < 5);
  const other = summarizeSeeds(values, { seed: 1, resamples: 50 });
  assert.notDeepEqual([other.ciLow, other.ciHigh], [a.ciLow, a.ciHigh]);
});

Deno.test("summarizeSeeds: one seed has a mean but no std or CI; no seed has nothing", () => {
  const one = summarizeSeeds([0.5]);
  assert.equal(one.mean, 0.5);
  assert.ok(Number.isNaN(one.std) && Number.isNaN(one.ciLow) && Number.isNaN(one.ciHigh));
  assert.ok(Number.isNaN(summarizeSeeds([]).mean));
  const same = summarizeSeeds([0.7, 0.7]);
  assert.deepEqual([same.std, same.ciLow, same.ciHigh], [0, 0.7, 0.7]);
});

Deno.test("summarizeSeeds rejects non-finite values", () => {
  assert.throws(() => summarizeSeeds([1, NaN]), /expected finite values, got NaN/);
});
