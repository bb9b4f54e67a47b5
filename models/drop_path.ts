/**
 * Stochastic depth (Huang et al., "Deep Networks with Stochastic Depth",
 * ECCV 2016; timm's `DropPath`, DeiT's and DINO's `drop_path_rate`): in
 * training, each residual branch of each block is dropped for a random
 * subset of the samples and scaled by `1/(1 − p)` for the others, so
 * `x + m·f(x)` with `m ∈ {0, 1/(1 − p)}` per sample; evaluation runs every
 * branch unscaled. As timm, the rate rises linearly over the depth — block
 * `i` of `L` drops with `p_i = rate · i/(L − 1)` (`torch.linspace(0, rate,
 * L)`: the first block never) — and the attention and MLP branches draw
 * separately (`drop_path1`, `drop_path2`).
 *
 * The masks are a pure function of the node's step seed: a sample is kept
 * when the Philox4x32-10 word (`core/philox.ts`) at counter `(⌊b/4⌋, block,
 * 2·input + branch, 0x44524f50)`, word `b mod 4`, read as a uniform in (0, 1),
 * is below `1 − p` (timm's `bernoulli_(keep_prob)`). They are host values: a
 * replayed step draws its own, and a checkpointed block gets its masks as
 * context, so its recomputation multiplies by the same ones.
 *
 * @module
 */
import { hostValue } from "../core/host_value.ts";
import { philoxKey, philoxWords, uniformFromWord } from "../core/philox.ts";
import type { Tensor } from "../core/tensor.ts";

/** Philox counter word 3 of stochastic depth's draws ("DROP"). */
const STREAM = 0x44524f50;

/**
 * Each block's drop probability for a stack of `depth` blocks at `rate`:
 * `rate · i/(depth − 1)` (timm's `torch.linspace(0, rate, depth)`).
 *
 * @param rate The last block's drop probability, in [0, 1).
 * @param depth Blocks in the stack.
 * @returns `depth` probabilities, the first 0.
 */
export function dropPathRates(rate: number, depth: number): number[] {
  if (!(rate >= 0 && rate < 1)) {
    throw new RangeError(`drop path: rate must be in [0, 1), got ${rate}`);
  }
  return Array.from({ length: depth }, (_, i) => depth === 1 ? 0 : rate * i / (depth - 1));
}

/**
 * The per-sample multipliers of one branch: `0` (dropped) or `1/(1 − p)`.
 *
 * @param rows Samples (rows of the flattened batch).
 * @param p The block's drop probability, in [0, 1).
 * @param seed The node's step seed.
 * @param block The block's index.
 * @param branch 0: the attention branch, 1: the MLP branch.
 * @param input Which input of the node (multi-crop; 0 for the first).
 * @returns `rows` multipliers.
 */
export function dropPathScales(
  rows: number,
  p: number,
  seed: number,
  block: number,
  branch: 0 | 1,
  input = 0,
): Float32Array {
  const [k0, k1] = philoxKey(seed);
  const keep = 1 - p;
  const out = new Float32Array(rows);
  const bits = new Uint32Array(4);
  for (let j = 0; 4 * j < rows; j++) {
    philoxWords(j, block, 2 * input + branch, STREAM, k0, k1, bits);
    for (let w = 0; w < 4 && 4 * j + w < rows; w++) {
      out[4 * j + w] = uniformFromWord(bits[w]!) < keep ? 1 / keep : 0;
    }
  }
  return out;
}

/**
 * The multipliers of one branch as a `[rows, 1, 1]` host value (a replayed
 * step draws its own).
 *
 * @param rows Samples (rows of the flattened batch).
 * @param p The block's drop probability (0 < p < 1).
 * @param seed The node's step seed.
 * @param block The block's index.
 * @param branch 0: the attention branch, 1: the MLP branch.
 * @param input Which input of the node (multi-crop).
 * @returns Multipliers broadcasting over a block's `[rows, T, D]`.
 */
export function dropPathMask(
  rows: number,
  p: number,
  seed: number,
  block: number,
  branch: 0 | 1,
  input = 0,
): Tensor {
  philoxKey(seed); // a bad seed fails here, not at a replay
  return hostValue(
    (host) => dropPathScales(rows, p, host.seed(seed), block, branch, input),
    [rows, 1, 1],
  );
}
