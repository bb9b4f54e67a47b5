import assert from "node:assert/strict";
import { deriveSeed, Rng, shuffle } from "./rng.ts";

// Golden values were cross-checked against an independent Python implementation
// of the same hash and generator (arbitrary-precision ints masked to 32 bits).
Deno.test("deriveSeed: golden values are stable", () => {
  assert.equal(deriveSeed(0), 1877378831);
  assert.equal(deriveSeed(1), 1395805767);
  assert.equal(deriveSeed(0, "sigreg", 0), 2351248332);
  assert.equal(deriveSeed(0, "sigreg", 1), 320344678);
  assert.equal(deriveSeed(42, "init", "image"), 2323347629);
  assert.equal(deriveSeed(-1), 250207940);
  assert.equal(deriveSeed(0, 0.5), 3894360796);
  assert.equal(deriveSeed(2 ** 40, "é😀"), 1319862963);
});

Deno.test("deriveSeed: types and order of parts matter; output is uint32", () => {
  assert.equal(deriveSeed(0, 1), 1282204372);
  assert.equal(deriveSeed(0, "1"), 1548495480);
  assert.notEqual(deriveSeed(0, "a", "b"), deriveSeed(0, "b", "a"));
  assert.notEqual(deriveSeed(0, "ab"), deriveSeed(0, "a", "b"));
  assert.notEqual(deriveSeed(0, "x"), deriveSeed(0, "x", ""));
  const seen = new Set<number>();
  for (let step = 0; step < 10000; step++) {
    const s = deriveSeed(7, "sigreg", step);
    assert.ok(Number.isInteger(s) && s >= 0 && s < 2 ** 32);
    seen.add(s);
  }
  assert.equal(seen.size, 10000, "no collisions over 10k consecutive steps");
});

Deno.test("deriveSeed: rejects bad seeds and parts with a clear message", () => {
  assert.throws(() => deriveSeed(1.5), /seed must be a safe integer, got 1.5/);
  assert.throws(() => deriveSeed(0, NaN), /part 0 is NaN/);
  assert.throws(
    () => deriveSeed(0, "a", {} as unknown as string),
    /part 1 .*expected a string or a finite number/,
  );
});

Deno.test("Rng: golden sequence, reproducible, seeds differ", () => {
  const a = new Rng(0);
  assert.deepEqual(
    [a.nextUint32(), a.nextUint32(), a.nextUint32(), a.nextUint32()],
    [129263716, 1518364293, 661202592, 996304562],
  );
  const b = new Rng(123);
  assert.deepEqual([b.next(), b.next(), b.next()], [
    0.1313367613880465,
    0.673246834892205,
    0.0055533347916394415,
  ]);
  const c1 = new Rng(5), c2 = new Rng(5), d = new Rng(6);
  const x1 = Array.from({ length: 20 }, () => c1.next());
  const x2 = Array.from({ length: 20 }, () => c2.next());
  const y = Array.from({ length: 20 }, () => d.next());
  assert.deepEqual(x1, x2);
  assert.notDeepEqual(x1, y);
});

Deno.test("Rng.next: uniform on [0, 1) (mean, variance, histogram)", () => {
  const rng = new Rng(1);
  const n = 100000;
  const bins = new Array(10).fill(0);
  let sum = 0, sumSq = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.next();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    sumSq += u * u;
    bins[Math.floor(u * 10)]++;
  }
  const mean = sum / n, variance = sumSq / n - mean * mean;
  assert.ok(Math.abs(mean - 0.5) < 0.005, `mean ${mean}`);
  assert.ok(Math.abs(variance - 1 / 12) < 0.002, `variance ${variance}`);
  // chi-square with 9 degrees of freedom: 99.9% quantile is 27.9
  const chi2 = bins.reduce((acc, c) => acc + (c - n / 10) ** 2 / (n / 10), 0);
  assert.ok(chi2 < 27.9, `chi2 ${chi2}`);
});

Deno.test("Rng.normal: moments of N(0, 1)", () => {
  const rng = new Rng(2);
  const n = 100000;
  let s1 = 0, s2 = 0, s3 = 0, s4 = 0, within1 = 0;
  for (let i = 0; i < n; i++) {
    const z = rng.normal();
    assert.ok(Number.isFinite(z));
    s1 += z;
    s2 += z * z;
    s3 += z ** 3;
    s4 += z ** 4;
    if (Math.abs(z) < 1) within1++;
  }
  assert.ok(Math.abs(s1 / n) < 0.015, `mean ${s1 / n}`);
  assert.ok(Math.abs(s2 / n - 1) < 0.02, `variance ${s2 / n}`);
  assert.ok(Math.abs(s3 / n) < 0.05, `skew ${s3 / n}`);
  assert.ok(Math.abs(s4 / n - 3) < 0.1, `kurtosis ${s4 / n}`);
  assert.ok(Math.abs(within1 / n - 0.6827) < 0.006, `P(|z|<1) ${within1 / n}`);
});

Deno.test("Rng.int: unbiased counts in range, validates n", () => {
  const rng = new Rng(3);
  const n = 7, draws = 70000;
  const counts = new Array(n).fill(0);
  for (let i = 0; i < draws; i++) counts[rng.int(n)]++;
  const chi2 = counts.reduce((acc, c) => acc + (c - draws / n) ** 2 / (draws / n), 0);
  assert.ok(chi2 < 22.5, `chi2 ${chi2} counts ${counts}`); // 6 dof, 99.9%
  assert.equal(rng.int(1), 0);
  const big = rng.int(2 ** 32);
  assert.ok(big >= 0 && big < 2 ** 32);
  assert.throws(() => rng.int(0), /n must be an integer in \[1, 2\^32\], got 0/);
  assert.throws(() => rng.int(2.5), /got 2.5/);
});

Deno.test("Rng.state / fromState resumes the exact sequence (including the normal spare)", () => {
  const rng = new Rng(9);
  rng.next();
  rng.normal(); // leaves a cached spare
  const saved = JSON.parse(JSON.stringify(rng.state()));
  const expected = [rng.normal(), rng.next(), rng.int(1000)];
  const resumed = Rng.fromState(saved);
  assert.deepEqual([resumed.normal(), resumed.next(), resumed.int(1000)], expected);
  assert.throws(
    () => Rng.fromState({ s: [0, 0, 0, 0], spare: null }),
    /four unsigned 32-bit integers, not all zero; got \[0,0,0,0\]/,
  );
});

Deno.test("shuffle: a seeded permutation, in place, reproducible", () => {
  const a = shuffle(Int32Array.from({ length: 50 }, (_, i) => i), new Rng(11));
  const b = shuffle(Int32Array.from({ length: 50 }, (_, i) => i), new Rng(11));
  const c = shuffle(Int32Array.from({ length: 50 }, (_, i) => i), new Rng(12));
  assert.deepEqual(a, b);
  assert.notDeepEqual(a, c);
  assert.deepEqual([...a].sort((x, y) => x - y), Array.from({ length: 50 }, (_, i) => i));
  const arr = [1, 2, 3];
  assert.equal(shuffle(arr, new Rng(0)), arr, "returns the same array");
  assert.deepEqual(shuffle([], new Rng(0)), []);
});

Deno.test("shuffle: every position is uniform over values (small n)", () => {
  const rng = new Rng(13);
  const n = 4, trials = 40000;
  const counts = Array.from({ length: n }, () => new Array(n).fill(0));
  for (let t = 0; t < trials; t++) {
    const p = shuffle([0, 1, 2, 3], rng);
    p.forEach((v, pos) => counts[pos][v]++);
  }
  for (const row of counts) {
    for (const c of row) assert.ok(Math.abs(c / trials - 1 / n) < 0.015, `count ${c}`);
  }
});
