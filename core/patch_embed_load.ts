/**
 * A loaded patch embedding made to take the node's pixels: `init_from.mean`
 * and `std` folded in (novalab feeds `[0, 1]`; `foldPixelNormalisation`), and
 * with `init_from.grey` an RGB embedding read into a one-channel node — each
 * grey image taken as the RGB image with three equal channels, so the weights
 * of a patch position are summed over the channels (after the fold, so the
 * normalisation of each channel still applies). timm's `adapt_input_conv` sums
 * the same way for `in_chans=1`, before any normalisation.
 *
 * @module
 */
import type { NodeSpec } from "./graph_spec.ts";
import type { TensorData } from "./safetensors.ts";
import { foldPixelNormalisation } from "./timm_layout.ts";
import type { Module, Parameter } from "./types.ts";

/**
 * The `[P·P·C, D]` patch linear summed over its `C` channels (row `k` reads
 * channel `k mod C`): `[P·P, D]`.
 */
export function sumPatchChannels(weight: TensorData, channels: number): TensorData {
  const [rows, d] = weight.shape as [number, number];
  const out = new Float32Array((rows / channels) * d);
  for (let k = 0; k < rows; k++) {
    const at = Math.floor(k / channels) * d;
    for (let o = 0; o < d; o++) out[at + o] = out[at + o]! + weight.data[k * d + o]!;
  }
  return { shape: [rows / channels, d], data: out };
}

/**
 * Applies the node's `init_from.mean`/`std` and `grey` to the loaded patch
 * embedding in `values` (by parameter); `fail` reports what does not fit.
 */
export function adaptPatchEmbedding(
  node: NodeSpec,
  module: Module,
  values: Map<Parameter, TensorData>,
  fail: (detail: string) => never,
): void {
  const { mean, std, grey } = node.initFrom!;
  if (!mean && !grey) return;
  const find = (suffix: string) =>
    [...values.keys()].find((p) => p.name === `${node.name}.patch_embed.proj.${suffix}`);
  const weight = find("weight"), bias = find("bias");
  const vit = module as { config?: { patch?: number }; geometry?: { channels: number } };
  const patch = vit.config?.patch;
  if (!weight || !bias || !patch) {
    return fail(
      `${mean ? "mean and std fold" : "grey sums the channels of"} a patch embedding; ` +
        `${node.kind} has none`,
    );
  }
  const own = vit.geometry?.channels ?? 1;
  const rows = values.get(weight)!.shape[0]!;
  if (grey && own !== 1) {
    fail(
      `grey: true reads the weights into a one-channel node; ${node.name} takes ${own} channels`,
    );
  }
  if (grey && rows === patch * patch) {
    fail(
      "grey: true sums the channels of the patch embedding, and it already takes one; drop grey",
    );
  }
  // The file's channels: RGB for grey, else the node's. Rows that do not fit the node's patch
  // are left as they are: the shape check names them (another patch size or channel count).
  const channels = grey ? 3 : own;
  if (rows !== patch * patch * channels) return;
  if (mean) {
    for (const [key, list] of [["mean", mean], ["std", std!]] as const) {
      if (list.length !== 1 && list.length !== channels) {
        fail(`${key} has ${list.length} values; the weights take ${channels} channel(s)`);
      }
    }
    const [w, b] = foldPixelNormalisation(values.get(weight)!, values.get(bias)!, {
      mean,
      std: std!,
      channels,
    });
    values.set(weight, w);
    values.set(bias, b);
  }
  if (!grey) return;
  values.set(weight, sumPatchChannels(values.get(weight)!, channels));
}
