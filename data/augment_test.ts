import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { applyPhotometric, type JitterConfig } from "./augment.ts";
import { ViewAugment } from "./views.ts";
import { deriveSeed, Rng } from "../core/rng.ts";

await tf.setBackend("cpu");
const none: JitterConfig = { p: 1, brightness: 0, contrast: 0, saturation: 0, hue: 0 };
const crops = (n = 6, c = 3, seed = 1) =>
  tf.randomUniform([n, 8, 8, c], 0.2, 0.8, "float32", seed) as tf.Tensor4D;
const close = (a: ArrayLike<number>, b: ArrayLike<number>, tol = 1e-5) => {
  for (let i = 0; i < a.length; i++) {
    assert.ok(Math.abs(a[i]! - b[i]!) <= tol, `${i}: ${a[i]} vs ${b[i]}`);
  }
};
const perCrop = (t: tf.Tensor, n: number) => {
  const v = t.dataSync() as Float32Array;
  const size = v.length / n;
  return Array.from({ length: n }, (_, i) => v.subarray(i * size, (i + 1) * size));
};

Deno.test("augment: nothing configured (or p = 0) is the identity", () => {
  const x = crops();
  const a = applyPhotometric(x, { seed: 1 });
  assert.equal(a, x);
  const b = applyPhotometric(x, {
    seed: 1,
    jitter: { ...none, p: 0, brightness: 0.5 },
    grayscale: 0,
    blur: { p: 0, sigma: [1, 2] },
    solarize: { p: 0, threshold: 0.5 },
  });
  close(b.dataSync(), x.dataSync(), 0);
  tf.dispose([x, b]);
});

Deno.test("augment: brightness scales each crop by one factor in range; contrast keeps the mean", () => {
  const x = crops(8);
  const y = applyPhotometric(x, { seed: 2, jitter: { ...none, brightness: 0.2 } });
  const xs = perCrop(x, 8), ys = perCrop(y, 8);
  const factors = xs.map((xv, i) => ys[i]![0]! / xv[0]!);
  factors.forEach((f, i) => {
    assert.ok(f >= 0.8 - 1e-6 && f <= 1.2 + 1e-6, `factor ${f}`);
    close(Array.from(xs[i]!, (v) => Math.min(1, v * f)), ys[i]!, 1e-5);
  });
  assert.ok(new Set(factors.map((f) => f.toFixed(4))).size > 4, "crops draw their own factor");
  const grey = tf.randomUniform([4, 8, 8, 1], 0.4, 0.6, "float32", 3) as tf.Tensor4D;
  const c = applyPhotometric(grey, { seed: 3, jitter: { ...none, contrast: 0.5 } });
  const mx = tf.mean(grey, [1, 2, 3]).dataSync(), mc = tf.mean(c, [1, 2, 3]).dataSync();
  close(mx, mc, 1e-5);
  tf.dispose([x, y, grey, c]);
});

Deno.test("augment: greyscale uses Rec. 601 luma; hue rotation keeps luma; zero ranges are identities", () => {
  const x = crops(4);
  const luma = tf.sum(tf.mul(x, tf.tensor1d([0.299, 0.587, 0.114])), 3);
  const g = applyPhotometric(x, { seed: 4, grayscale: 1 });
  const gv = g.dataSync();
  for (let i = 0; i < gv.length; i += 3) assert.ok(gv[i] === gv[i + 1] && gv[i] === gv[i + 2]);
  close(tf.squeeze(tf.slice(g, [0, 0, 0, 0], [-1, -1, -1, 1]), [3]).dataSync(), luma.dataSync());
  const h = applyPhotometric(x, { seed: 5, jitter: { ...none, hue: 0.5 } });
  const hl = tf.sum(tf.mul(h, tf.tensor1d([0.299, 0.587, 0.114])), 3);
  // Luma is invariant under the chroma rotation wherever no channel was clipped.
  const unclipped = tf.all(tf.logicalAnd(tf.greater(h, 0), tf.less(h, 1)), 3).dataSync();
  const [hv, lv] = [hl.dataSync(), luma.dataSync()];
  let checked = 0;
  unclipped.forEach((ok, i) => {
    if (!ok) return;
    checked++;
    close([hv[i]!], [lv[i]!], 1e-5);
  });
  assert.ok(checked > 100, `${checked} unclipped pixels`);
  assert.ok(tf.max(tf.abs(tf.sub(h, x))).dataSync()[0]! > 0.01, "hue changed the colours");
  const s = applyPhotometric(x, { seed: 6, jitter: { ...none, saturation: 1 } });
  const zero = applyPhotometric(x, { seed: 6, jitter: { ...none, saturation: 0 } });
  close(zero.dataSync(), x.dataSync(), 0);
  assert.ok(tf.max(tf.abs(tf.sub(s, x))).dataSync()[0]! > 0.001);
  tf.dispose([x, luma, g, h, hl, s, zero]);
});

Deno.test("augment: Gaussian blur keeps constants, spreads an impulse symmetrically, per crop", () => {
  const flat = tf.fill([2, 9, 9, 3], 0.4) as tf.Tensor4D;
  const fb = applyPhotometric(flat, { seed: 7, blur: { p: 1, sigma: [0.5, 2] } });
  close(fb.dataSync(), flat.dataSync(), 1e-5);
  const impulse = tf.buffer([3, 9, 9, 1]);
  for (let n = 0; n < 3; n++) impulse.set(1, n, 4, 4, 0);
  const x = impulse.toTensor() as tf.Tensor4D;
  const b = applyPhotometric(x, { seed: 8, blur: { p: 1, sigma: [1, 1] } });
  const v = perCrop(b, 3);
  for (const crop of v) {
    close([crop.reduce((s, p) => s + p, 0)], [1], 1e-4);
    close([crop[4 * 9 + 3]!], [crop[4 * 9 + 5]!], 1e-6);
    close([crop[3 * 9 + 4]!], [crop[5 * 9 + 4]!], 1e-6);
    // σ = 1: centre weight (1-D tap at 0)² with K = 7 taps.
    const taps = [-3, -2, -1, 0, 1, 2, 3].map((t) => Math.exp(-t * t / 2));
    const t0 = 1 / taps.reduce((s, p) => s + p, 0);
    close([crop[40]!], [t0 * t0], 1e-5);
  }
  const half = applyPhotometric(tf.tile(x, [20, 1, 1, 1]) as tf.Tensor4D, {
    seed: 9,
    blur: { p: 0.5, sigma: [1, 2] },
  });
  const untouched = perCrop(half, 60).filter((c) => c[40] === 1).length;
  assert.ok(untouched > 15 && untouched < 45, `${untouched} of 60 crops unblurred at p = 0.5`);
  tf.dispose([flat, fb, x, b, half]);
});

/** Float64 separable Gaussian blur of one `[h, w, c]` crop, reflect padding (no edge repeat). */
function referenceBlur(
  v: ArrayLike<number>,
  at: { h: number; w: number; c: number; sigma: number; r: number },
) {
  const { h, w, c, sigma, r } = at;
  const taps = Array.from(
    { length: 2 * r + 1 },
    (_, t) => Math.exp(-((t - r) ** 2) / (2 * sigma ** 2)),
  );
  const sum = taps.reduce((a, b) => a + b, 0);
  const reflect = (i: number, n: number) => (i < 0 ? -i : i >= n ? 2 * (n - 1) - i : i);
  const rows = new Float64Array(h * w * c), out = new Float64Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let a = 0;
        for (let t = -r; t <= r; t++) {
          a += taps[t + r]! / sum * v[(reflect(y + t, h) * w + x) * c + ch]!;
        }
        rows[(y * w + x) * c + ch] = a;
      }
    }
  }
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let ch = 0; ch < c; ch++) {
        let a = 0;
        for (let t = -r; t <= r; t++) {
          a += taps[t + r]! / sum * rows[(y * w + reflect(x + t, w)) * c + ch]!;
        }
        out[(y * w + x) * c + ch] = a;
      }
    }
  }
  return out;
}

Deno.test("augment: blur matches a float64 separable reflect-padded blur (non-square, RGB)", () => {
  const x = tf.randomUniform([3, 7, 10, 3], 0, 1, "float32", 4) as tf.Tensor4D;
  const b = applyPhotometric(x, { seed: 3, blur: { p: 1, sigma: [1.3, 1.3], kernel: 5 } });
  const want = perCrop(x, 3).map((v) => referenceBlur(v, { h: 7, w: 10, c: 3, sigma: 1.3, r: 2 }));
  perCrop(b, 3).forEach((got, i) => close(got, want[i]!, 2e-6));
  tf.dispose([x, b]);
});

Deno.test("augment: every crop gets its own σ (float64 reference per crop; unblurred crops exact)", () => {
  const n = 8, seed = 22, [lo, hi] = [0.8, 1.6];
  const x = tf.randomUniform([n, 9, 11, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  const b = applyPhotometric(x, { seed, blur: { p: 0.6, sigma: [lo, hi], kernel: 5 } });
  // The documented draws: one generator for "blur", per crop `apply = u < p`, then σ = lo + (hi − lo)·u.
  const rng = new Rng(deriveSeed(seed, "blur"));
  const sigmas = Array.from({ length: n }, () => {
    const apply = rng.next() < 0.6;
    const sigma = lo + (hi - lo) * rng.next();
    return apply ? sigma : -1;
  });
  assert.ok(sigmas.some((s) => s < 0) && new Set(sigmas.filter((s) => s > 0)).size > 2);
  const inputs = perCrop(x, n), outputs = perCrop(b, n);
  sigmas.forEach((sigma, i) => {
    if (sigma < 0) close(outputs[i]!, inputs[i]!, 0);
    else close(outputs[i]!, referenceBlur(inputs[i]!, { h: 9, w: 11, c: 3, sigma, r: 2 }), 2e-6);
  });
  tf.dispose([x, b]);
});

Deno.test("augment: solarise inverts pixels above the threshold; draws are deterministic", () => {
  const x = crops(5);
  const s = applyPhotometric(x, { seed: 10, solarize: { p: 1, threshold: 0.5 } });
  close(s.dataSync(), Array.from(x.dataSync(), (v) => (v >= 0.5 ? 1 - v : v)));
  const cfg = {
    jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
    grayscale: 0.2,
    blur: { p: 0.5, sigma: [0.1, 2] as [number, number] },
    solarize: { p: 0.2, threshold: 0.5 },
  };
  const a = applyPhotometric(x, { ...cfg, seed: 11 });
  const again = applyPhotometric(x, { ...cfg, seed: 11 });
  const other = applyPhotometric(x, { ...cfg, seed: 12 });
  close(a.dataSync(), again.dataSync(), 0);
  assert.ok(tf.max(tf.abs(tf.sub(a, other))).dataSync()[0]! > 0.01);
  assert.ok(a.dataSync().every((v) => v >= 0 && v <= 1));
  tf.dispose([x, s, a, again, other]);
});

Deno.test("augment: through the views module — shapes, determinism, inference untouched, no leak", () => {
  const x = tf.randomUniform([3, 12, 12, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const m = new ViewAugment({
    count: 2,
    size: 8,
    scale: [0.5, 1],
    ratio: [0.75, 4 / 3],
    flip: 0.5,
    jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 },
    grayscale: 0.2,
    blur: { p: 0.5, sigma: [0.1, 2] },
    solarize: { p: 0.2, threshold: 0.5 },
  }, "v");
  const before = tf.memory().numTensors;
  const a = m.forward([x], { training: true, step: 3, seed: 5 }) as tf.Tensor;
  const b = m.forward([x], { training: true, step: 3, seed: 5 }) as tf.Tensor;
  assert.deepEqual(a.shape, [2, 3, 8, 8, 3]);
  close(a.dataSync(), b.dataSync(), 0);
  const inf = m.forward([x], { training: false, step: 0, seed: 5 }) as tf.Tensor;
  assert.deepEqual(inf.shape, [1, 3, 8, 8, 3]);
  tf.dispose([a, b, inf]);
  assert.equal(tf.memory().numTensors, before);
  x.dispose();
});
