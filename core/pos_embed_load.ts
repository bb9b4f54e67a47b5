/**
 * `init_from.resample`: a checkpoint's ViT position embeddings for another
 * patch grid (224-px ImageNet weights into a 384-px or a 28-px model)
 * resampled on loading — the CLS position kept, the square source grid
 * resampled to the node's grid `bilinear`ly (PyTorch's `interpolate(…,
 * mode="bilinear", align_corners=False)`, the map multi-crop uses) or
 * `bicubic`ally as timm's `resample_abs_pos_embed` does by default (PyTorch's
 * bicubic with `antialias=True`, `models/bicubic_resample.ts`). A timm
 * checkpoint's grid (square) is checked against the node's even when their
 * token counts agree.
 *
 * @module
 */
import { bilinearResampleMatrix } from "../models/pos_resample.ts";
import { bicubicResampleMatrix } from "../models/bicubic_resample.ts";
import type { TensorData } from "./safetensors.ts";
import type { Module, Parameter } from "./types.ts";

/** How position grids are resampled: bilinearly, or bicubically with antialiasing as timm. */
export type PositionResampling = "bilinear" | "bicubic";

/**
 * `pos` (`[1, k + g·g, D]`: `k` prefix positions — the CLS's, registers' — then
 * a square `g × g` grid) resampled to `[1, k + h·w, D]` for the grid `to = [h, w]`.
 *
 * @throws When `pos` is not `[1, k + g², D]`.
 */
export function resamplePosEmbed(
  pos: TensorData,
  to: readonly [number, number],
  method: PositionResampling = "bilinear",
  prefix = 1,
): TensorData {
  const [one, tokens, dim] = pos.shape as [number, number, number];
  const side = Math.round(Math.sqrt(tokens - prefix));
  if (pos.shape.length !== 3 || one !== 1 || side * side !== tokens - prefix || side < 1) {
    throw new Error(
      `pos_embed [${pos.shape}] is not [1, ${prefix} + g², D] (${prefix} prefix position(s) ` +
        "and a square grid); only such grids are resampled",
    );
  }
  const [h, w] = to;
  const map = method === "bicubic"
    ? bicubicResampleMatrix([side, side], to, true)
    : bilinearResampleMatrix([side, side], to);
  const out = new Float32Array((prefix + h * w) * dim);
  out.set(pos.data.subarray(0, prefix * dim), 0); // the prefix positions as they were
  const grid = side * side;
  for (let r = 0; r < h * w; r++) {
    for (let k = 0; k < grid; k++) {
      const weight = map[r * grid + k]!;
      if (weight === 0) continue;
      const from = (prefix + k) * dim, at = (prefix + r) * dim;
      for (let d = 0; d < dim; d++) out[at + d] = out[at + d]! + weight * pos.data[from + d]!;
    }
  }
  return { shape: [1, prefix + h * w, dim], data: out };
}

/** Entries of the node's `pos_embed` before its grid (1, the CLS's, unless the ViT says). */
function positionPrefix(module: Module): number {
  return (module as { positionPrefix?: number }).positionPrefix ?? 1;
}

/** The node's patch grid `[rows, columns]`, when it is a ViT. */
function patchGrid(module: Module): [number, number] | undefined {
  const vit = module as {
    config?: { patch?: number };
    geometry?: { height: number; width: number };
  };
  const patch = vit.config?.patch;
  return patch && vit.geometry
    ? [vit.geometry.height / patch, vit.geometry.width / patch]
    : undefined;
}

/**
 * A timm `pos_embed` (a square grid after the node's prefix positions) for the
 * node's grid: resampled with `resample`, else refused when the grids differ —
 * also when their token counts agree (a 14×14 grid read as 7×28 would load
 * silently). One that is no square grid after that prefix is returned as it is
 * (the shape check then names it).
 */
export function timmPositions(
  stored: TensorData,
  module: Module,
  resample: PositionResampling | undefined,
): TensorData {
  const grid = patchGrid(module);
  if (!grid) throw new Error("pos_embed: the node has no patch grid");
  const prefix = positionPrefix(module);
  const side = Math.sqrt(stored.shape[1]! - prefix);
  if (stored.shape.length !== 3 || !Number.isInteger(side)) return stored;
  if (grid[0] === side && grid[1] === side) return stored;
  if (resample) return resamplePosEmbed(stored, grid, resample, prefix);
  throw new Error(
    `pos_embed holds a ${side}×${side} grid of positions, node's patch grid is ` +
      `${grid[0]}×${grid[1]}; init_from.resample: bicubic (timm's way) or bilinear resamples ` +
      "it (or train at its image size)",
  );
}

/** A novalab `pos_embed` resampled to the node's patch grid when its token count differs. */
export function resampledPositions(
  stored: TensorData,
  p: Parameter,
  module: Module,
  method: PositionResampling,
): TensorData {
  if (stored.shape[1] === p.variable.shape[1]) return stored;
  const grid = patchGrid(module);
  if (!grid) throw new Error("resample: the node has no patch grid");
  return resamplePosEmbed(stored, grid, method, positionPrefix(module));
}
