/**
 * Patch dropout (FLIP: Li, Fan, Hu, Feichtenhofer & He, "Scaling
 * Language-Image Pre-training via Masking", CVPR 2023; open_clip's and timm's
 * `PatchDropout`): in training, each image keeps a random subset of its patch
 * tokens — `max(1, ⌊L·(1 − rate)⌋)` of `L`, as both libraries count — after
 * the position embeddings and before `norm_pre` and the blocks, so the blocks
 * run on fewer tokens (FLIP masks 50–75 %: 2–4× less compute per image).
 * The prefix tokens (CLS, registers) are always kept. Evaluation sees every
 * patch (FLIP evaluates unmasked).
 *
 * The subset is a pure function of the node's step seed: Philox4x32-10 words
 * (`core/philox.ts`) at counter `(j, row, input, 0x464c4950)` rank the
 * patches of each row (of the flattened batch `[V·B]`) and the `keep` lowest
 * are kept, in grid order. The indices are host values, so a replayed step
 * (`core/replayable_step.ts`) draws its own.
 *
 * The gather's gradient is the gather back through the inverse map (a dropped
 * patch's row reads a zero row): both directions are gathers, so every
 * backend (WASM has no scatter kernel) computes it, with no `[B, L, L]`
 * selection matrix.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { hostValue } from "../core/host_value.ts";
import { philoxKey, philoxWords } from "../core/philox.ts";
import { runCustomGradOp } from "../kernels/custom_grad.ts";
import type { Tensor, Tensor3D } from "../core/tensor.ts";

/** Philox counter word 3 of patch dropout's draws ("FLIP"). */
const STREAM = 0x464c4950;

/**
 * Patches kept of `patches` at `rate`: `max(1, ⌊patches · (1 − rate)⌋)`
 * (open_clip's and timm's `int()`).
 *
 * @param patches Patch tokens per image.
 * @param rate Share dropped, in [0, 1).
 * @returns The count kept, between 1 and `patches`.
 */
export function keptPatchCount(patches: number, rate: number): number {
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(`patch dropout: rate must be in [0, 1), got ${rate}`);
  }
  // Python's int() of the float64 product, as both libraries compute it: 100 · (1 − 0.8) is
  // 19.999999999999996 there too, so 19 are kept.
  return Math.max(1, Math.trunc(patches * (1 - rate)));
}

/**
 * The kept patches of each row: `rows × keep` patch indices in `[0,
 * patches)`, each row's ascending, drawn from `seed` for input `input`.
 *
 * @param rows Images (rows of the flattened batch).
 * @param patches Patch tokens per image (at most 65,536).
 * @param keep Patches kept per image (see {@linkcode keptPatchCount}).
 * @param seed The node's step seed (any safe integer).
 * @param input Which input of the node (multi-crop; 0 for the first).
 * @returns Row-major `[rows, keep]` indices.
 */
export function keptPatchIndices(
  rows: number,
  patches: number,
  keep: number,
  seed: number,
  input = 0,
): Int32Array {
  if (patches > 65536) {
    throw new RangeError(`patch dropout: ${patches} patches per image; at most 65,536`);
  }
  const [k0, k1] = philoxKey(seed);
  const out = new Int32Array(rows * keep);
  // Each patch's rank word and index packed into one float64 (word · 2¹⁶ + index < 2⁴⁸, exact),
  // so a native sort orders by word, then index; the low bits give the patch back.
  const packed = new Float64Array(patches);
  const bits = new Uint32Array(4);
  for (let row = 0; row < rows; row++) {
    for (let j = 0; 4 * j < patches; j++) {
      philoxWords(j, row, input, STREAM, k0, k1, bits);
      for (let w = 0; w < 4 && 4 * j + w < patches; w++) {
        packed[4 * j + w] = bits[w]! * 65536 + 4 * j + w;
      }
    }
    packed.sort();
    const kept = out.subarray(row * keep, (row + 1) * keep);
    for (let k = 0; k < keep; k++) kept[k] = packed[k]! % 65536;
    kept.sort();
  }
  return out;
}

/**
 * Where each token of `[rows, prefix + patches]` goes in the kept
 * `[rows, prefix + keep]` (flattened row-major), or `rows · (prefix + keep)`
 * (a zero row) for a dropped patch: the gradient's gather.
 */
function inverseRows(kept: Int32Array, rows: number, prefix: number, patches: number): Int32Array {
  const keep = kept.length / rows, width = prefix + keep;
  const inverse = new Int32Array(rows * (prefix + patches)).fill(rows * width);
  for (let row = 0; row < rows; row++) {
    const base = row * (prefix + patches);
    for (let t = 0; t < prefix; t++) inverse[base + t] = row * width + t;
    for (let k = 0; k < keep; k++) {
      inverse[base + prefix + kept[row * keep + k]!] = row * width + prefix + k;
    }
  }
  return inverse;
}

/** Flat source rows of the kept tokens: the prefix tokens, then the kept patches. */
function sourceRows(kept: Int32Array, rows: number, prefix: number, patches: number): Int32Array {
  const keep = kept.length / rows, width = prefix + keep;
  const out = new Int32Array(rows * width);
  for (let row = 0; row < rows; row++) {
    const base = row * (prefix + patches);
    for (let t = 0; t < prefix; t++) out[row * width + t] = base + t;
    for (let k = 0; k < keep; k++) {
      out[row * width + prefix + k] = base + prefix + kept[row * keep + k]!;
    }
  }
  return out;
}

/**
 * Tokens `[rows, prefix + L, D]` → `[rows, prefix + keep, D]`: the prefix
 * tokens and each row's kept patches (in grid order) at `rate`, drawn from
 * `seed`; differentiable with respect to `tokens`.
 *
 * @param tokens Prefix tokens first, then the `L` patch tokens.
 * @param prefix Prefix tokens (CLS, registers), always kept.
 * @param rate Share of the patches dropped, in [0, 1).
 * @param seed The node's step seed.
 * @param input Which input of the node (multi-crop).
 * @returns The kept tokens.
 */
export function dropPatches(
  tokens: Tensor3D,
  prefix: number,
  rate: number,
  seed: number,
  input = 0,
): Tensor3D {
  const [rows, total, dim] = tokens.shape;
  const patches = total - prefix;
  const keep = keptPatchCount(patches, rate);
  if (keep === patches) return tokens;
  philoxKey(seed); // a bad seed fails here, not at a replay
  const width = prefix + keep;
  // Host values: a replayed step draws its own subsets.
  // Both host values read the same draw: made once per step (and per replay).
  let last: { seed: number; kept: Int32Array } | undefined;
  const kept = (host: { seed(s: number): number }) => {
    const now = host.seed(seed);
    if (last?.seed !== now) {
      last = { seed: now, kept: keptPatchIndices(rows, patches, keep, now, input) };
    }
    return last.kept;
  };
  const source = hostValue((host) => sourceRows(kept(host), rows, prefix, patches), [
    rows * width,
  ]);
  const inverse = hostValue((host) => inverseRows(kept(host), rows, prefix, patches), [
    rows * total,
  ]);
  const out = runCustomGradOp<Tensor>({
    inputs: { tokens },
    forwardFunc: (_, save) => {
      save([source, inverse]);
      return tf.gather(tokens.reshape([rows * total, dim]), source).reshape([rows, width, dim]);
    },
    backwardsFunc: (dy, saved) => ({
      tokens: () =>
        tf.tidy(() => {
          const padded = tf.concat([dy.reshape([rows * width, dim]), tf.zeros([1, dim])], 0);
          return tf.gather(padded, saved[1]!).reshape([rows, total, dim]);
        }),
    }),
  });
  tf.dispose([source, inverse]);
  return out as Tensor3D;
}
