/**
 * Deterministic data order: the permutation of a split for one epoch, and
 * per-sample choices (e.g. which caption template) that depend only on
 * `(seed, epoch, index)`. Built on {@linkcode Rng} and {@linkcode shuffle}
 * from `core/rng.ts`, so the order is identical on every platform.
 *
 * @module
 */
import { deriveSeed, Rng, shuffle } from "../core/rng.ts";

/**
 * The order of the samples of a split in epoch `epoch`: a seeded Fisher–Yates
 * permutation of `0 … size-1`.
 *
 * @param size Number of samples in the split.
 * @param options `seed` (the data-order seed) and `epoch` (0-based).
 * @returns A fresh `Int32Array` holding each index exactly once.
 */
export function epochOrder(size: number, options: { seed: number; epoch: number }): Int32Array {
  if (!Number.isInteger(size) || size < 0) {
    throw new RangeError(`epochOrder: size must be a non-negative integer, got ${size}`);
  }
  const order = new Int32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  return shuffle(order, new Rng(deriveSeed(options.seed, "epoch", options.epoch)));
}

/**
 * A deterministic choice in `[0, n)` for sample `index` in epoch `epoch`
 * (e.g. the caption template of a sample). Independent of batch size and order.
 *
 * @param n Number of choices (≥ 1).
 * @param options `seed`, `epoch` and the sample `index`, plus a `purpose` tag
 *   so unrelated choices decorrelate.
 */
export function sampleChoice(
  n: number,
  options: { seed: number; epoch: number; index: number; purpose: string },
): number {
  if (!Number.isInteger(n) || n < 1) {
    throw new RangeError(`sampleChoice: n must be a positive integer, got ${n}`);
  }
  if (n === 1) return 0;
  const h = deriveSeed(options.seed, options.purpose, options.epoch, options.index);
  return new Rng(h).int(n);
}

/**
 * Splits `0 … size-1` into a held-out part of `round(fraction · size)` indices and
 * the rest, by a seeded permutation; both parts are returned sorted.
 *
 * @param size Number of samples.
 * @param options `fraction` in `[0, 1)` and `seed`.
 * @returns `{ keep, held }` index lists.
 */
export function holdOut(
  size: number,
  options: { fraction: number; seed: number },
): { keep: Int32Array; held: Int32Array } {
  if (!(options.fraction >= 0 && options.fraction < 1)) {
    throw new RangeError(`holdOut: fraction must be in [0, 1), got ${options.fraction}`);
  }
  const order = new Int32Array(size);
  for (let i = 0; i < size; i++) order[i] = i;
  shuffle(order, new Rng(deriveSeed(options.seed, "hold-out")));
  const count = Math.round(options.fraction * size);
  return { keep: order.slice(count).sort(), held: order.slice(0, count).sort() };
}
