/**
 * `init_from.resample: true`: a checkpoint's ViT position embeddings for
 * another patch grid (224-px ImageNet weights into a 384-px or a 28-px model)
 * resampled on loading — the CLS position kept, the square source grid
 * resampled bilinearly to the node's grid (PyTorch's `interpolate(…,
 * mode="bilinear", align_corners=False)`, the map multi-crop uses; timm's own
 * `resample_abs_pos_embed` defaults to bicubic).
 *
 * @module
 */
import { bilinearResampleMatrix } from "../models/pos_resample.ts";
import type { TensorData } from "./safetensors.ts";

/**
 * `pos` (`[1, 1 + g·g, D]`: CLS first, then a square `g × g` grid) resampled to
 * `[1, 1 + h·w, D]` for the grid `to = [h, w]`.
 *
 * @throws When `pos` is not `[1, 1 + g², D]`.
 */
export function resamplePosEmbed(pos: TensorData, to: readonly [number, number]): TensorData {
  const [one, tokens, dim] = pos.shape as [number, number, number];
  const side = Math.round(Math.sqrt(tokens - 1));
  if (pos.shape.length !== 3 || one !== 1 || side * side !== tokens - 1 || side < 1) {
    throw new Error(
      `pos_embed [${pos.shape}] is not [1, 1 + g², D] (a CLS position and a square grid); ` +
        "only such grids are resampled",
    );
  }
  const [h, w] = to;
  const map = bilinearResampleMatrix([side, side], to);
  const out = new Float32Array((1 + h * w) * dim);
  out.set(pos.data.subarray(0, dim), 0); // the CLS position as it was
  const grid = side * side;
  for (let r = 0; r < h * w; r++) {
    for (let k = 0; k < grid; k++) {
      const weight = map[r * grid + k]!;
      if (weight === 0) continue;
      const from = (1 + k) * dim, at = (1 + r) * dim;
      for (let d = 0; d < dim; d++) out[at + d] = out[at + d]! + weight * pos.data[from + d]!;
    }
  }
  return { shape: [1, 1 + h * w, dim], data: out };
}
