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
 * padding; kernel `2⌈3σ₁⌉+1` unless given; every crop's own taps, unblurred
 * crops an identity tap, as one depthwise convolution per axis over the crops
 * stacked as channels), solarisation with probability `p`
 * (pixels ≥ `threshold` become `1 − x`). Single-channel images skip saturation,
 * hue and greyscale.
 *
 * The per-crop parameters are host values (`core/host_value.ts`) and the ops
 * do not depend on what was drawn, so a training step with these
 * augmentations is the same device work every step and replays
 * (`core/replayable_step.ts`), each replay drawing its own step's parameters.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { deriveSeed, Rng } from "../core/rng.ts";
import { hostValue } from "../core/host_value.ts";
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

/** What {@linkcode perCrop} draws, for the step's seed `seed`. */
type Draw = { purpose: string; p: number; none: number; draw: (r: Rng) => number };

/**
 * A host value `shape` made by `values` from the per-crop draws of `draw`:
 * drawn from `seed` now, and from the replayed step's counterpart of `seed`
 * at every replay.
 */
function drawn(
  n: number,
  at: { seed: number; shape: number[]; draw: Draw },
  values: (draws: Float32Array) => Float32Array = (d) => d,
): tf.Tensor {
  return hostValue(
    (host) => values(perCrop(n, { ...at.draw, seed: host.seed(at.seed) })),
    at.shape,
  );
}

/** A per-crop factor `[N, 1, 1, 1]` of `draw`'s values. */
function factor(n: number, seed: number, draw: Draw): tf.Tensor4D {
  return drawn(n, { seed, shape: [n, 1, 1, 1], draw }) as tf.Tensor4D;
}
const LUMA = [0.299, 0.587, 0.114];

/** Per-pixel grey `[N, H, W, 1]` of an RGB batch (the batch itself when single-channel). */
function grey(x: Tensor4D): Tensor4D {
  if (x.shape[3] === 1) return x;
  const [n, h, w] = x.shape;
  const luma = tf.matMul(tf.reshape(x, [n * h * w, 3]), tf.tensor2d(LUMA, [3, 1]));
  return tf.reshape(luma, [n, h, w, 1]);
}

/** `clamp(k·x + (1 − k)·toward)`, the blend torchvision's adjust_* functions use. */
function blend(x: Tensor4D, toward: tf.Tensor, k: tf.Tensor4D): Tensor4D {
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

/** Per-crop 3×3 hue rotations (transposed, for pixel row-vectors), `[N·9]`. */
function hueMatrices(turns: Float32Array): Float32Array {
  const n = turns.length;
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
  return mats;
}

/** Hue rotation per crop (`mats` `[N, 3, 3]`): YIQ chroma rotation as one batched 3×3 matmul. */
function rotateHue(x: Tensor4D, mats: tf.Tensor): Tensor4D {
  const [n, h, w] = x.shape;
  const out = tf.matMul(tf.reshape(x, [n, h * w, 3]), mats as tf.Tensor3D);
  return tf.clipByValue(tf.reshape(out, [n, h, w, 3]), 0, 1) as Tensor4D;
}

function jitter(x: Tensor4D, cfg: JitterConfig, seed: number): Tensor4D {
  const n = x.shape[0];
  const range = (v: number) => uniform(Math.max(0, 1 - v), 1 + v);
  const draw = (purpose: string, none: number, d: (r: Rng) => number): Draw => ({
    purpose: `jitter-${purpose}`,
    p: cfg.p,
    none,
    draw: d,
  });
  const b = factor(n, seed, draw("brightness", 1, range(cfg.brightness)));
  let y = tf.clipByValue(tf.mul(x, b), 0, 1) as Tensor4D;
  if (cfg.contrast > 0) {
    const c = factor(n, seed, draw("contrast", 1, range(cfg.contrast)));
    y = blend(y, tf.mean(grey(y), [1, 2, 3], true), c);
  }
  if (x.shape[3] === 3 && cfg.saturation > 0) {
    y = blend(y, grey(y), factor(n, seed, draw("saturation", 1, range(cfg.saturation))));
  }
  if (x.shape[3] === 3 && cfg.hue > 0) {
    const hue = draw("hue", 0, uniform(-cfg.hue, cfg.hue));
    y = rotateHue(y, drawn(n, { seed, shape: [n, 3, 3], draw: hue }, hueMatrices));
  }
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

/**
 * Per-crop taps `[K, N·C]` (crop-major, each crop's taps repeated over its
 * channels): Gaussian of the crop's σ where `sigmas` has one, else the
 * identity tap (1 at the centre).
 */
function blurTaps(sigmas: Float32Array, at: { r: number; channels: number }): Float32Array {
  const { r, channels } = at;
  const n = sigmas.length, k = 2 * r + 1;
  const out = new Float32Array(k * n * channels);
  for (let i = 0; i < n; i++) {
    const taps = sigmas[i]! >= 0 ? gaussianTaps(sigmas[i]!, r) : null;
    for (let t = 0; t < k; t++) {
      const v = taps ? taps[t]! : t === r ? 1 : 0;
      for (let ch = 0; ch < channels; ch++) out[t * n * channels + i * channels + ch] = v;
    }
  }
  return out;
}

/**
 * Separable per-crop Gaussian blur, σ ~ U[σ₀, σ₁] on the selected crops
 * (the others pass unchanged: an identity tap). The crops are stacked as the
 * channels of one image, reflect-padded (torchvision's `reflect`: no edge
 * repeat) and convolved depthwise once per axis with every crop's own taps.
 */
function blur(x: Tensor4D, cfg: BlurConfig, seed: number): Tensor4D {
  const [n, h, w, c] = x.shape;
  const [lo, hi] = cfg.sigma;
  const largest = Math.floor((Math.min(h, w) - 1) / 2);
  const r = Math.min(((cfg.kernel ?? 2 * Math.ceil(3 * hi) + 1) - 1) / 2, largest);
  if (r < 1) return x;
  const k = 2 * r + 1;
  const draw: Draw = { purpose: "blur", p: cfg.p, none: -1, draw: uniform(lo, hi) };
  const taps = drawn(
    n,
    { seed, shape: [k, 1, n * c, 1], draw },
    (sigmas) => blurTaps(sigmas, { r, channels: c }),
  ) as tf.Tensor4D;
  const stacked = tf.reshape(tf.transpose(x, [1, 2, 0, 3]), [1, h, w, n * c]) as tf.Tensor4D;
  const rows = tf.depthwiseConv2d(
    tf.mirrorPad(stacked, [[0, 0], [r, r], [0, 0], [0, 0]], "reflect"),
    taps,
    1,
    "valid",
  );
  const cols = tf.depthwiseConv2d(
    tf.mirrorPad(rows, [[0, 0], [0, 0], [r, r], [0, 0]], "reflect"),
    tf.reshape(taps, [1, k, n * c, 1]) as tf.Tensor4D,
    1,
    "valid",
  );
  return tf.transpose(tf.reshape(cols, [h, w, n, c]), [2, 0, 1, 3]) as Tensor4D;
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
    const g = factor(n, seed, {
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
    const on = factor(n, seed, { purpose: "solarize", p: sol.p, none: 0, draw: () => 1 });
    // y + on · [y ≥ t] · (1 − 2y): arithmetic instead of a broadcast boolean `where`.
    const flip = tf.mul(tf.cast(tf.greaterEqual(y, sol.threshold), "float32"), on);
    y = tf.add(y, tf.mul(flip, tf.sub(1, tf.mul(y, 2)))) as Tensor4D;
  }
  return y;
}
