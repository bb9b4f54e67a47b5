/**
 * Position embeddings for another patch grid (multi-crop: local views at a
 * smaller size through the ViT built for the global ones). The learned grid
 * `[gh₀ · gw₀, D]` is resampled bilinearly to `[gh · gw, D]` as PyTorch's
 * `F.interpolate(mode="bilinear", align_corners=False)` does (half-pixel
 * centres, no antialiasing; DINO and timm resample bicubically, which tfjs
 * lacks — the difference is in how smooth the local grid's embeddings are,
 * and they are trained through this map either way). The map is a constant
 * `[gh · gw, gh₀ · gw₀]` matrix, so the resampled embeddings are one matrix
 * product whose gradient flows back into the learned grid on every backend.
 *
 * @module
 */

/**
 * Source indices and weights of one output position along an axis:
 * `src = (o + ½) · in/out − ½`, clamped at 0; neighbours `⌊src⌋` and the
 * next (clamped to the last index).
 */
function axisTaps(o: number, from: number, to: number): [number, number, number, number] {
  const src = Math.max(0, (o + 0.5) * (from / to) - 0.5);
  const i0 = Math.min(Math.floor(src), from - 1);
  const i1 = Math.min(i0 + 1, from - 1);
  const w1 = src - i0;
  return [i0, 1 - w1, i1, w1];
}

/**
 * The bilinear resampling matrix from a `from = [h₀, w₀]` grid to a
 * `to = [h, w]` grid, row-major positions: `[h · w, h₀ · w₀]`, each row's
 * weights summing to 1 (the identity when the grids are equal).
 *
 * @param from Rows and columns of the learned grid.
 * @param to Rows and columns wanted.
 */
export function bilinearResampleMatrix(
  from: readonly [number, number],
  to: readonly [number, number],
): Float32Array {
  const [h0, w0] = from, [h, w] = to;
  for (const n of [h0, w0, h, w]) {
    if (!Number.isInteger(n) || n < 1) {
      throw new RangeError(
        `bilinearResampleMatrix: grid sides must be positive integers, got ${n}`,
      );
    }
  }
  const out = new Float32Array(h * w * h0 * w0);
  for (let y = 0; y < h; y++) {
    const [y0, wy0, y1, wy1] = axisTaps(y, h0, h);
    for (let x = 0; x < w; x++) {
      const [x0, wx0, x1, wx1] = axisTaps(x, w0, w);
      const row = (y * w + x) * h0 * w0;
      out[row + y0 * w0 + x0] += wy0 * wx0;
      out[row + y0 * w0 + x1] += wy0 * wx1;
      out[row + y1 * w0 + x0] += wy1 * wx0;
      out[row + y1 * w0 + x1] += wy1 * wx1;
    }
  }
  return out;
}
