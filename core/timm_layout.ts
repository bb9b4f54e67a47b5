/**
 * Reading PyTorch (timm) checkpoints into novalab's layouts, for
 * `init_from: { path, layout: timm }` — e.g. an ImageNet-trained
 * `vit_small_patch16_224` from the Hugging Face hub as NOVA's image encoder.
 * novalab's ViT uses timm's parameter names; the layouts differ only where
 * docs/checkpoints.md says:
 *
 * - a `Linear` weight is `[out, in]` in PyTorch, `[in, out]` here: transposed;
 * - the patch embedding is a `Conv2d` weight `[D, C, P, P]` in timm, a linear
 *   layer over patches flattened in (row, column, channel) order here:
 *   `w.permute(2, 3, 1, 0).reshape(P·P·C, D)`;
 * - biases, norms, `cls_token`, `pos_embed` are the same.
 *
 * The classifier (`head.*`) is not part of an encoder and is skipped.
 *
 * @module
 */
import type { TensorData } from "./safetensors.ts";

/** Layouts `init_from` reads: novalab's own, or PyTorch's with timm's names. */
export type CheckpointLayout = "novalab" | "timm";

/** timm tensors with no novalab counterpart in an encoder (the classification head). */
export function skippedTimmTensor(name: string): boolean {
  return name === "head.weight" || name === "head.bias";
}

/** `t` (shape `[a, b]`) transposed to `[b, a]`. */
function transposed(t: TensorData): TensorData {
  const [a, b] = t.shape as [number, number];
  const out = new Float32Array(a * b);
  for (let i = 0; i < a; i++) {
    for (let j = 0; j < b; j++) out[j * a + i] = t.data[i * b + j]!;
  }
  return { shape: [b, a], data: out };
}

/** A `[D, C, P, Q]` convolution weight as the `[P·Q·C, D]` patch-linear weight. */
function patchLinear(t: TensorData): TensorData {
  const [d, c, p, q] = t.shape as [number, number, number, number];
  const out = new Float32Array(d * c * p * q);
  for (let o = 0; o < d; o++) {
    for (let ch = 0; ch < c; ch++) {
      for (let i = 0; i < p; i++) {
        for (let j = 0; j < q; j++) {
          out[((i * q + j) * c + ch) * d + o] = t.data[((o * c + ch) * p + i) * q + j]!;
        }
      }
    }
  }
  return { shape: [p * q * c, d], data: out };
}

/**
 * Folds the pixel normalisation a checkpoint was trained with into its patch
 * embedding, so the node takes novalab's `[0, 1]` pixels: with `x' = (x − μ_c)/σ_c`,
 * `x'·W + b = x·W' + b'` for `W'[k, d] = W[k, d]/σ_c(k)` and
 * `b'[d] = b[d] − Σ_k W[k, d]·μ_c(k)/σ_c(k)` (row `k` of the `[P·P·C, D]` patch
 * linear reads channel `c(k) = k mod C`). Exact: patches have no padding.
 *
 * @param weight The patch linear `[P·P·C, D]` (novalab's layout).
 * @param bias Its bias `[D]`.
 * @param norm Per-channel `mean` and `std` (one value each: every channel alike).
 * @param channels `C`.
 */
export function foldPixelNormalisation(
  weight: TensorData,
  bias: TensorData,
  norm: { mean: number[]; std: number[]; channels: number },
): [TensorData, TensorData] {
  const [rows, d] = weight.shape as [number, number];
  const at = (values: number[], c: number) => values.length === 1 ? values[0]! : values[c]!;
  const w = new Float32Array(rows * d);
  const b = Float64Array.from(bias.data);
  for (let k = 0; k < rows; k++) {
    const c = k % norm.channels;
    const scale = 1 / at(norm.std, c), shift = at(norm.mean, c) * scale;
    for (let o = 0; o < d; o++) {
      const value = weight.data[k * d + o]!;
      w[k * d + o] = value * scale;
      b[o] = b[o]! - value * shift;
    }
  }
  return [{ shape: weight.shape, data: w }, { shape: bias.shape, data: Float32Array.from(b) }];
}

/**
 * The tensor `name` (timm's name within the encoder, e.g.
 * `blocks.0.attn.qkv.weight`) in novalab's layout.
 *
 * @throws When a patch embedding weight is not 4-D (not a timm `Conv2d`).
 */
export function fromTimm(name: string, t: TensorData): TensorData {
  if (name === "patch_embed.proj.weight") {
    if (t.shape.length !== 4) {
      throw new Error(
        `"${name}" has shape [${t.shape}]; a timm patch embedding is a Conv2d weight [D, C, P, P]`,
      );
    }
    return patchLinear(t);
  }
  return name.endsWith(".weight") && t.shape.length === 2 ? transposed(t) : t;
}
