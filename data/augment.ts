/**
 * Photometric augmentations of the `views` module, run batched on the tensor
 * backend over all `N = V·B` crops at once, with per-crop random parameters
 * drawn from seeded generators (one per operation, a fixed number of draws per
 * crop, so enabling one operation does not change another's draws).
 *
 * In order (BYOL / SimCLR / DINO): colour jitter with probability `p`
 * (brightness × b, contrast and saturation blends towards the image's grey
 * mean / per-pixel grey, hue as a rotation of the chroma plane in YIQ space —
 * close to torchvision's HSV hue shift; the four are applied in this fixed
 * order rather than torchvision's random order, clamped to `[0, 1]` after each),
 * greyscale with probability `grayscale` (Rec. 601 luma, kept 3-channel),
 * Gaussian blur with probability `p` and σ ~ U[σ₀, σ₁] (separable, reflect
 * padding; kernel `2⌈3σ₁⌉+1` unless given; σ rounded to one of 8 levels of
 * the range so that crops of a level share two large matrix products),
 * solarisation with probability `p`
 * (pixels ≥ `threshold` become `1 − x`). Single-channel images skip saturation,
 * hue and greyscale.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { deriveSeed, Rng } from "../core/rng.ts";
import type { Tensor4D } from "../core/tensor.ts";

/** Colour jitter (torchvision `ColorJitter` ranges, applied with probability `p`). */
export interface JitterConfig {
  /** Probability per crop. */
  p: number;
  /** Brightness factor range `[max(0, 1−b), 1+b]`. */
  brightness: number;
  /** Contrast factor range `[max(0, 1−c), 1+c]`. */
  contrast: number;
  /** Saturation factor range `[max(0, 1−s), 1+s]`. */
  saturation: number;
  /** Hue shift range `[−h, h]` in turns (`h ≤ 0.5`). */
  hue: number;
}

/** Gaussian blur with probability `p`. */
export interface BlurConfig {
  /** Probability per crop. */
  p: number;
  /** σ range in pixels of the output crop. */
  sigma: [number, number];
  /** Odd kernel size (default `2⌈3σ₁⌉+1`, at most the crop side's largest odd size). */
  kernel?: number;
}

/** Solarisation with probability `p`. */
export interface SolarizeConfig {
  /** Probability per crop. */
  p: number;
  /** Pixels at or above it are inverted. */
  threshold: number;
}

/** The photometric part of a `views` config. */
export interface PhotometricConfig {
  /** Colour jitter. */
  jitter?: JitterConfig;
  /** Greyscale probability. */
  grayscale?: number;
  /** Gaussian blur. */
  blur?: BlurConfig;
  /** Solarisation. */
  solarize?: SolarizeConfig;
}

/** Per-crop values: `draw(rng)` when the crop is selected with probability `p`, else `none`. */
function perCrop(
  n: number,
  at: { seed: number; purpose: string; p: number; none: number; draw: (r: Rng) => number },
): Float32Array {
  const rng = new Rng(deriveSeed(at.seed, at.purpose));
  return Float32Array.from({ length: n }, () => {
    const apply = rng.next() < at.p;
    const value = at.draw(rng);
    return apply ? value : at.none;
  });
}

const uniform = (lo: number, hi: number) => (r: Rng) => lo + (hi - lo) * r.next();
const LUMA = [0.299, 0.587, 0.114];

/** Per-pixel grey `[N, H, W, 1]` of an RGB batch (the batch itself when single-channel). */
function grey(x: Tensor4D): Tensor4D {
  if (x.shape[3] === 1) return x;
  const [n, h, w] = x.shape;
  const luma = tf.matMul(tf.reshape(x, [n * h * w, 3]), tf.tensor2d(LUMA, [3, 1]));
  return tf.reshape(luma, [n, h, w, 1]);
}

/** A per-crop factor `[N, 1, 1, 1]`. */
function factor(values: Float32Array): tf.Tensor4D {
  return tf.tensor4d(values, [values.length, 1, 1, 1]);
}

/** `clamp(f·x + (1 − f)·toward)`, the blend torchvision's adjust_* functions use. */
function blend(x: Tensor4D, toward: tf.Tensor, f: Float32Array): Tensor4D {
  const k = factor(f);
  return tf.clipByValue(tf.add(tf.mul(x, k), tf.mul(toward, tf.sub(1, k))), 0, 1) as Tensor4D;
}

const TO_YIQ = [[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]];

/** Inverse of a 3×3 matrix (adjugate / determinant). */
function inverse3(m: number[][]): number[][] {
  const at = (r: number, c: number) => m[(r + 3) % 3]![(c + 3) % 3]!;
  const cof = (r: number, c: number) =>
    at(r + 1, c + 1) * at(r + 2, c + 2) - at(r + 1, c + 2) * at(r + 2, c + 1);
  const det = m[0]!.reduce((s, v, c) => s + v * cof(0, c), 0);
  return [0, 1, 2].map((r) => [0, 1, 2].map((c) => cof(c, r) / det));
}

const FROM_YIQ = inverse3(TO_YIQ);

/** Hue rotation by `turns` per crop: YIQ chroma rotation as one batched 3×3 matmul. */
function rotateHue(x: Tensor4D, turns: Float32Array): Tensor4D {
  const [n, h, w] = x.shape;
  const toYiq = TO_YIQ;
  const fromYiq = FROM_YIQ;
  const mats = new Float32Array(n * 9);
  for (let i = 0; i < n; i++) {
    const c = Math.cos(2 * Math.PI * turns[i]!), s = Math.sin(2 * Math.PI * turns[i]!);
    const rot = [[1, 0, 0], [0, c, -s], [0, s, c]];
    for (let r = 0; r < 3; r++) {
      for (let col = 0; col < 3; col++) {
        let v = 0; // (fromYiq · rot · toYiq)[r][col]
        for (let a = 0; a < 3; a++) {
          for (let b = 0; b < 3; b++) v += fromYiq[r]![a]! * rot[a]![b]! * toYiq[b]![col]!;
        }
        mats[i * 9 + col * 3 + r] = v; // stored transposed: pixel row-vector × Mᵀ
      }
    }
  }
  const out = tf.matMul(tf.reshape(x, [n, h * w, 3]), tf.tensor3d(mats, [n, 3, 3]));
  return tf.clipByValue(tf.reshape(out, [n, h, w, 3]), 0, 1) as Tensor4D;
}

function jitter(x: Tensor4D, cfg: JitterConfig, seed: number): Tensor4D {
  const n = x.shape[0];
  const range = (v: number) => uniform(Math.max(0, 1 - v), 1 + v);
  const draw = (purpose: string, none: number, d: (r: Rng) => number) =>
    perCrop(n, { seed, purpose: `jitter-${purpose}`, p: cfg.p, none, draw: d });
  const b = draw("brightness", 1, range(cfg.brightness));
  const c = draw("contrast", 1, range(cfg.contrast));
  const s = draw("saturation", 1, range(cfg.saturation));
  const h = draw("hue", 0, uniform(-cfg.hue, cfg.hue));
  let y = tf.clipByValue(tf.mul(x, factor(b)), 0, 1) as Tensor4D;
  if (cfg.contrast > 0) y = blend(y, tf.mean(grey(y), [1, 2, 3], true), c);
  if (x.shape[3] === 3 && cfg.saturation > 0) y = blend(y, grey(y), s);
  if (x.shape[3] === 3 && cfg.hue > 0) y = rotateHue(y, h);
  return y;
}

/** 1-D Gaussian taps per crop, `K = 2r + 1` each, normalised. */
function gaussianTaps(sigma: number, r: number): Float64Array {
  const taps = Float64Array.from(
    { length: 2 * r + 1 },
    (_, t) => Math.exp(-((t - r) ** 2) / (2 * sigma * sigma)),
  );
  const sum = taps.reduce((a, b) => a + b, 0);
  return taps.map((t) => t / sum);
}

/** Index `i` reflected into `[0, n)` (torchvision's `reflect` padding: no edge repeat). */
function reflect(i: number, n: number): number {
  if (n === 1) return 0;
  const period = 2 * (n - 1);
  const m = ((i % period) + period) % period;
  return m < n ? m : period - m;
}

/** Blur matrix `[n, n]`: row `i` holds the taps landing on column `j` after reflect padding. */
function blurMatrix(sigma: number, at: { n: number; r: number }): tf.Tensor2D {
  const { n, r } = at;
  const taps = gaussianTaps(sigma, r);
  const m = new Float32Array(n * n);
  for (let i = 0; i < n; i++) {
    for (let t = -r; t <= r; t++) m[i * n + reflect(i + t, n)] += taps[t + r]!;
  }
  return tf.tensor2d(m, [n, n]);
}

/** Blurs crops `[m, H, W, C]` that share one σ: two large matrix products (rows, then columns). */
function blurGroup(x: tf.Tensor4D, at: { sigma: number; r: number }): tf.Tensor4D {
  const [m, h, w, c] = x.shape;
  const byRow = tf.reshape(tf.transpose(x, [1, 0, 2, 3]), [h, m * w * c]);
  const rows = tf.reshape(tf.matMul(blurMatrix(at.sigma, { n: h, r: at.r }), byRow), [h, m, w, c]);
  const byCol = tf.reshape(tf.transpose(rows, [2, 1, 0, 3]), [w, m * h * c]);
  const cols = tf.reshape(tf.matMul(blurMatrix(at.sigma, { n: w, r: at.r }), byCol), [w, m, h, c]);
  return tf.transpose(cols, [1, 2, 0, 3]) as tf.Tensor4D;
}

/** σ levels of the blur: draws are rounded to one of these, so crops share matrix products. */
const BLUR_LEVELS = 8;

/**
 * Separable per-crop Gaussian blur over the selected crops only (unselected
 * crops pass unchanged). σ is rounded to one of {@link BLUR_LEVELS} evenly
 * spaced levels of `[σ₀, σ₁]`; crops of one level are blurred together by two
 * matrix products with a banded reflect-padded matrix.
 */
function blur(x: Tensor4D, cfg: BlurConfig, seed: number): Tensor4D {
  const [n, h, w] = x.shape;
  const [lo, hi] = cfg.sigma;
  const level = (s: number) => Math.round(((s - lo) / Math.max(hi - lo, 1e-9)) * (BLUR_LEVELS - 1));
  const sigmas = perCrop(n, { seed, purpose: "blur", p: cfg.p, none: -1, draw: uniform(lo, hi) });
  const largest = Math.floor((Math.min(h, w) - 1) / 2);
  const r = Math.min(((cfg.kernel ?? 2 * Math.ceil(3 * hi) + 1) - 1) / 2, largest);
  const groups = new Map<number, number[]>();
  sigmas.forEach((s, i) => s >= 0 && groups.set(level(s), [...(groups.get(level(s)) ?? []), i]));
  if (groups.size === 0 || r < 1) return x;
  const parts: tf.Tensor4D[] = [x];
  const where = Int32Array.from({ length: n }, (_, i) => i);
  let offset = n;
  for (const [lv, crops] of groups) {
    const sigma = lo + ((hi - lo) * lv) / (BLUR_LEVELS - 1);
    const group = crops.length === n ? x : tf.gather(x, tf.tensor1d(crops, "int32"));
    if (crops.length === n) return blurGroup(group, { sigma, r }) as Tensor4D;
    parts.push(blurGroup(group, { sigma, r }));
    crops.forEach((i, k) => (where[i] = offset + k));
    offset += crops.length;
  }
  return tf.gather(tf.concat(parts, 0), tf.tensor1d(where, "int32")) as Tensor4D;
}

/**
 * Applies the configured photometric augmentations to crops `[N, H, W, C]`
 * (call inside `tf.tidy`).
 *
 * @param x Crops in `[0, 1]`.
 * @param options The config and the `seed` of this call (step- and node-specific).
 * @returns Augmented crops `[N, H, W, C]` in `[0, 1]`.
 */
export function applyPhotometric(
  x: Tensor4D,
  options: PhotometricConfig & { seed: number },
): Tensor4D {
  const { seed } = options;
  const n = x.shape[0];
  let y = x;
  if (options.jitter && options.jitter.p > 0) y = jitter(y, options.jitter, seed);
  if ((options.grayscale ?? 0) > 0 && y.shape[3] === 3) {
    const g = perCrop(n, {
      seed,
      purpose: "grayscale",
      p: options.grayscale!,
      none: 1,
      draw: () => 0,
    });
    y = blend(y, grey(y), g);
  }
  if (options.blur && options.blur.p > 0) y = blur(y, options.blur, seed);
  const sol = options.solarize;
  if (sol && sol.p > 0) {
    const on = perCrop(n, { seed, purpose: "solarize", p: sol.p, none: 0, draw: () => 1 });
    // y + on · [y ≥ t] · (1 − 2y): arithmetic instead of a broadcast boolean `where`.
    const flip = tf.mul(tf.cast(tf.greaterEqual(y, sol.threshold), "float32"), factor(on));
    y = tf.add(y, tf.mul(flip, tf.sub(1, tf.mul(y, 2)))) as Tensor4D;
  }
  return y;
}
