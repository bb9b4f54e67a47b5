import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import { assertGradients } from "../tests/gradcheck.ts";
import { eppsPulley, type Quadrature, quadratureNodes } from "./epps_pulley.ts";
import { randomDirections, sigreg } from "./sigreg.ts";

await tf.setBackend("cpu");

/** Float64 Epps–Pulley of one slice with the full, unfolded 17-node rules of DESIGN §5. */
function referenceEP(u: number[], q: Quadrature): number {
  const [lo, hi] = q === "code" ? [0, 3] : [-5, 5];
  const dt = (hi - lo) / 16;
  let sum = 0;
  for (let j = 0; j <= 16; j++) {
    const t = lo + j * dt;
    const end = j === 0 || j === 16;
    const w = (q === "code" ? (end ? dt : 2 * dt) : (end ? dt / 2 : dt)) * Math.exp(-(t * t) / 2);
    let c = 0, s = 0;
    for (const x of u) [c, s] = [c + Math.cos(t * x), s + Math.sin(t * x)];
    sum += w * ((c / u.length - Math.exp(-(t * t) / 2)) ** 2 + (s / u.length) ** 2);
  }
  return u.length * sum;
}

function gaussian(shape: number[], seed: number, std = 1): tf.Tensor {
  const rng = new Rng(seed);
  const n = shape.reduce((a, b) => a * b, 1);
  return tf.tensor(Float32Array.from({ length: n }, () => std * rng.normal()), shape);
}

const one = (x: tf.Tensor, options: Parameters<typeof sigreg>[1]) =>
  tf.tidy(() => sigreg(x, options).dataSync()[0]!);

Deno.test("quadratureNodes folds the 17-node rules onto t > 0 without changing them", () => {
  assert.equal(quadratureNodes("code").t.length, 16);
  assert.equal(quadratureNodes("paper").t.length, 8);
  const u = [0.3, -1.2, 2.5, 0.1, -0.7];
  for (const q of ["code", "paper"] as const) {
    const { t, weights } = quadratureNodes(q);
    let folded = 0;
    t.forEach((tj, j) => {
      const c = u.reduce((a, x) => a + Math.cos(tj * x), 0) / u.length;
      const s = u.reduce((a, x) => a + Math.sin(tj * x), 0) / u.length;
      folded += weights[j]! * ((c - Math.exp(-(tj * tj) / 2)) ** 2 + s * s);
    });
    assert.ok(Math.abs(u.length * folded - referenceEP(u, q)) < 1e-12);
  }
  assert.throws(() => quadratureNodes("simpson" as Quadrature), /"simpson".*code, paper/);
});

Deno.test("sigreg: one slice u = [-1, 0, 0.5, 2] gives DESIGN §5 values", () => {
  const x = tf.tensor2d([[-1], [0], [0.5], [2]]);
  const directions = tf.tensor2d([[1]]);
  assert.ok(Math.abs(one(x, { directions, quadrature: "code" }) - 0.214214) < 1e-5);
  assert.ok(Math.abs(one(x, { directions, quadrature: "paper" }) - 0.219065) < 1e-5);
  assert.ok(Math.abs(one(x, { directions }) - 0.214214) < 1e-5, "default quadrature is code");
  tf.dispose([x, directions]);
});

Deno.test("sigreg: all-zero input of N samples gives 0.40205·N / 0.40892·N", () => {
  for (const n of [16, 300]) {
    const x = tf.zeros([n, 8]);
    assert.ok(Math.abs(one(x, { slices: 32, quadrature: "code" }) / n - 0.40205) < 1e-5);
    assert.ok(Math.abs(one(x, { slices: 32, quadrature: "paper" }) / n - 0.40892) < 1e-5);
    x.dispose();
  }
});

Deno.test("sigreg matches a float64 reference on random data, views and both quadratures", () => {
  const x = gaussian([3, 64, 8], 7, 1.3);
  const dirs = randomDirections(8, 16, 3);
  const xs = x.arraySync() as number[][][];
  const a = dirs.arraySync() as number[][];
  for (const q of ["code", "paper"] as const) {
    let expected = 0;
    for (const view of xs) {
      for (let m = 0; m < 16; m++) {
        expected += referenceEP(view.map((r) => r.reduce((s, v, k) => s + v * a[k]![m]!, 0)), q);
      }
    }
    expected /= 3 * 16;
    const got = one(x, { directions: dirs, quadrature: q });
    assert.ok(Math.abs(got - expected) < 1e-4 * expected, `${q}: ${got} vs ${expected}`);
  }
  tf.dispose([x, dirs]);
});

// Under H0 each slice has E[EP] = Σ w (1 − e^{−t²}) exactly: 1.0525 (code) / 1.0594 (paper).
// One batch's mean over slices varies (slices share the batch): over 20 seeds with K = 64 we
// measured a spread σ ≈ 0.10, hence the ±0.3 (3σ) window around DESIGN's single-run ≈ 1.02 / 1.03.
Deno.test("sigreg: i.i.d. N(0, 1), N = 1024, 512 slices ≈ 1.02 / 1.03", () => {
  const x = gaussian([1024, 64], 11);
  const code = one(x, { slices: 512, seed: 1, quadrature: "code" });
  const paper = one(x, { slices: 512, seed: 1, quadrature: "paper" });
  assert.ok(Math.abs(code - 1.02) < 0.3, `code ${code}`);
  assert.ok(Math.abs(paper - 1.03) < 0.3, `paper ${paper}`);
  assert.ok(paper - code > 0 && paper - code < 0.02, `paper − code = ${paper - code}`);
  x.dispose();
});

// The average of 4 independent batches has σ ≈ 0.10 / √4 = 0.05: check the exact mean ±0.15.
Deno.test("sigreg: averaged over batches, N(0, 1) reads the exact expectation 1.0525", () => {
  let sum = 0;
  for (let s = 0; s < 4; s++) {
    const x = gaussian([1024, 64], 100 + s);
    sum += one(x, { slices: 256, seed: s });
    x.dispose();
  }
  assert.ok(Math.abs(sum / 4 - 1.0525) < 0.15, `mean ${sum / 4}`);
});

Deno.test("sigreg: i.i.d. N(0, 0.1²), N = 256 ≈ 99 / 101", () => {
  const x = gaussian([256, 32], 5, 0.1);
  const code = one(x, { slices: 512, quadrature: "code" });
  const paper = one(x, { slices: 512, quadrature: "paper" });
  // Expectation 99.07 / 100.65; at σ = 0.1 the batch noise is < 0.5.
  assert.ok(Math.abs(code - 99) < 1.5, `code ${code}`);
  assert.ok(Math.abs(paper - 101) < 1.5, `paper ${paper}`);
  x.dispose();
});

Deno.test("sigreg: a [2, N, K] input is the mean of its two views", () => {
  const x = gaussian([2, 50, 6], 21);
  const [a, b] = tf.unstack(x);
  const both = one(x, { slices: 64, seed: 9 });
  const mean = (one(a!, { slices: 64, seed: 9 }) + one(b!, { slices: 64, seed: 9 })) / 2;
  assert.ok(Math.abs(both - mean) < 1e-5 * mean);
  const nested = one(tf.reshape(x, [1, 2, 50, 6]), { slices: 64, seed: 9 });
  assert.ok(Math.abs(nested - both) < 1e-6 * both, "any number of leading axes");
  tf.dispose([x, a!, b!]);
});

Deno.test("sigreg: chunked == unchunked, value and gradient", () => {
  const x = gaussian([2, 40, 5], 4);
  const run = (maxChunkFloats?: number) =>
    tf.tidy(() => {
      const f = (t: tf.Tensor) => sigreg(t, { slices: 37, seed: 2, maxChunkFloats });
      const { value, grad } = tf.valueAndGrad(f)(x);
      return [value.dataSync()[0]!, grad.dataSync()] as const;
    });
  const [v0, g0] = run();
  const [v1, g1] = run(2 * 40 * 16 * 5); // chunks of 5 slices (8 chunks, the last short)
  assert.ok(Math.abs(v0 - v1) < 1e-5 * v0);
  g0.forEach((g, i) => assert.ok(Math.abs(g - g1[i]!) < 1e-5 + 1e-4 * Math.abs(g)));
  x.dispose();
});

// Float32 central differences, h = 1e-2, per entry |a − n| ≤ 1e-4 + 2e-2·max(|a|, |n|):
// inputs O(1), N = 8 so the statistic is O(1) and well-conditioned.
Deno.test("sigreg gradient agrees with central finite differences", async () => {
  const x = gaussian([2, 8, 3], 13);
  const directions = randomDirections(3, 4, 1);
  for (const quadrature of ["code", "paper"] as const) {
    await assertGradients((t) => sigreg(t, { directions, quadrature }), [x], { rtol: 2e-2 });
  }
  tf.dispose([x, directions]);
});

Deno.test("sigreg: directions are seeded unit columns, and nothing leaks", () => {
  const d = randomDirections(5, 7, 42);
  const cols = tf.tidy(() => tf.sqrt(tf.sum(tf.square(d), 0)).dataSync());
  cols.forEach((c) => assert.ok(Math.abs(c - 1) < 1e-6));
  const again = randomDirections(5, 7, 42);
  const other = randomDirections(5, 7, 43);
  assert.deepEqual(again.dataSync(), d.dataSync());
  assert.notDeepEqual(other.dataSync(), d.dataSync());
  tf.dispose([d, again, other]);

  const x = gaussian([3, 10, 5], 1);
  const z = tf.zeros([1, 4, 2]) as tf.Tensor3D;
  const before = tf.memory().numTensors;
  tf.dispose(sigreg(x, { slices: 8, maxChunkFloats: 500 }));
  tf.dispose(tf.grad((t: tf.Tensor) => sigreg(t, { slices: 8, maxChunkFloats: 500 }))(x));
  tf.dispose(eppsPulley(z));
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, z]);
});

Deno.test("sigreg errors name the shapes and choices", () => {
  const [x, v, d] = [tf.zeros([4, 3]), tf.zeros([4]), tf.zeros([2, 5]) as tf.Tensor2D];
  assert.throws(() => sigreg(v), /\[\.\.\., N, K\].*\[4\]/);
  assert.throws(() => sigreg(x, { directions: d }), /K = 3.*\[2, 5\]/);
  assert.throws(() => sigreg(x, { slices: 0 }), /slices.*positive integer.*0/);
  assert.throws(() => sigreg(x, { quadrature: "gauss" as Quadrature }), /"gauss".*code, paper/);
  tf.dispose([x, v, d]);
});
