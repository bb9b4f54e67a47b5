/**
 * Patch dropout (FLIP: Li, Fan, Hu, Feichtenhofer & He, "Scaling
 * Language-Image Pre-training via Masking", CVPR 2023; open_clip's and timm's
 * `PatchDropout`): in training, each image keeps a random subset of its patch
 * tokens — `max(1, ⌊L·(1 − rate)⌋)` of `L`, as both libraries count — after
 * the position embeddings and before `norm_pre` and the blocks, so the blocks
 * run on fewer tokens (FLIP's 50–75 % masking trains 2–4× faster per image).
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
  // The product rounded to 12 digits first: 0.7 · 10 is 7.000000000000001 in float64.
  return Math.max(1, Math.floor(Number((patches * (1 - rate)).toPrecision(12))));
}

/**
 * The kept patches of each row: `rows × keep` patch indices in `[0,
 * patches)`, each row's ascending, drawn from `seed` for input `input`.
 *
 * @param rows Images (rows of the flattened batch).
 * @param patches Patch tokens per image.
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
  const [k0, k1] = philoxKey(seed);
  const out = new Int32Array(rows * keep);
  const ranks = new Float64Array(patches);
  const order = Array.from({ length: patches }, (_, i) => i);
  const bits = new Uint32Array(4);
  for (let row = 0; row < rows; row++) {
    for (let j = 0; 4 * j < patches; j++) {
      philoxWords(j, row, input, STREAM, k0, k1, bits);
      for (let w = 0; w < 4 && 4 * j + w < patches; w++) ranks[4 * j + w] = bits[w]!;
    }
    order.sort((a, b) => ranks[a]! - ranks[b]! || a - b);
    const kept = order.slice(0, keep).sort((a, b) => a - b);
    out.set(kept, row * keep);
    order.sort((a, b) => a - b);
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
  const kept = (host: { seed(s: number): number }) =>
    keptPatchIndices(rows, patches, keep, host.seed(seed), input);
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
