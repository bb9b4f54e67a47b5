/**
 * Bicubic resampling matrices as PyTorch's `F.interpolate(mode="bicubic",
 * align_corners=False)` computes them, with and without `antialias` — timm's
 * `resample_abs_pos_embed` (its default: bicubic, antialiased) resamples a
 * pre-trained ViT's position grid this way, so a timm encoder loaded at another
 * image size gets the positions timm would give it.
 *
 * - Without antialias: Keys' cubic convolution with `A = −0.75`, four taps at
 *   `⌊s⌋ − 1 … ⌊s⌋ + 2` of `s = (o + ½) · in/out − ½`, indices clamped to the
 *   grid.
 * - With antialias (PIL's filter, `a = −0.5`): a tap support of `2 · max(1,
 *   in/out)` around `(o + ½) · in/out`, the filter stretched by `in/out` when
 *   shrinking, taps outside the grid dropped and the rest normalised to sum 1.
 *
 * Both are separable: the `[h · w, h₀ · w₀]` matrix is the product of a row
 * and a column map.
 *
 * @module
 */

/** Keys' cubic kernel with parameter `a` at distance `x`. */
function cubic(x: number, a: number): number {
  const d = Math.abs(x);
  if (d <= 1) return ((a + 2) * d - (a + 3)) * d * d + 1;
  if (d < 2) return ((a * d - 5 * a) * d + 8 * a) * d - 4 * a;
  return 0;
}

/** The `[to, from]` map of one axis (row-major), as PyTorch's bicubic kernels weigh it. */
export function bicubicAxis(from: number, to: number, antialias: boolean): Float64Array {
  const out = new Float64Array(to * from);
  const scale = from / to;
  for (let o = 0; o < to; o++) {
    if (!antialias) {
      const src = (o + 0.5) * scale - 0.5;
      const base = Math.floor(src), t = src - base;
      const weights = [
        cubic(t + 1, -0.75),
        cubic(t, -0.75),
        cubic(1 - t, -0.75),
        cubic(2 - t, -0.75),
      ];
      weights.forEach((w, k) => {
        const i = Math.min(Math.max(base - 1 + k, 0), from - 1);
        out[o * from + i] += w;
      });
      continue;
    }
    const support = scale >= 1 ? 2 * scale : 2;
    const invScale = scale >= 1 ? 1 / scale : 1;
    const centre = scale * (o + 0.5);
    const first = Math.max(Math.trunc(centre - support + 0.5), 0);
    const end = Math.min(Math.trunc(centre + support + 0.5), from);
    let total = 0;
    for (let i = first; i < end; i++) total += cubic((i - centre + 0.5) * invScale, -0.5);
    for (let i = first; i < end; i++) {
      out[o * from + i] = total === 0 ? 0 : cubic((i - centre + 0.5) * invScale, -0.5) / total;
    }
  }
  return out;
}

/**
 * The bicubic resampling matrix from a `from = [h₀, w₀]` grid to `to = [h, w]`,
 * row-major positions: `[h · w, h₀ · w₀]`.
 *
 * @param from Rows and columns of the stored grid.
 * @param to Rows and columns wanted.
 * @param antialias PyTorch's `antialias` (timm's default: true).
 */
export function bicubicResampleMatrix(
  from: readonly [number, number],
  to: readonly [number, number],
  antialias: boolean,
): Float32Array {
  const [h0, w0] = from, [h, w] = to;
  for (const n of [h0, w0, h, w]) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(`bicubicResampleMatrix: grid sides must be positive integers, got ${n}`);
    }
  }
  const rows = bicubicAxis(h0, h, antialias), cols = bicubicAxis(w0, w, antialias);
  const out = new Float32Array(h * w * h0 * w0);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const row = (y * w + x) * h0 * w0;
      for (let y0 = 0; y0 < h0; y0++) {
        const wy = rows[y * h0 + y0]!;
        if (wy === 0) continue;
        for (let x0 = 0; x0 < w0; x0++) out[row + y0 * w0 + x0] = wy * cols[x * w0 + x0]!;
      }
    }
  }
  return out;
}
