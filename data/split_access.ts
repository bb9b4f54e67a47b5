/**
 * What every random-access source needs per split: a lookup that names the
 * valid splits when one is missing, and a cache of the seeded epoch order
 * (recomputed only when the seed or the epoch changes).
 *
 * @module
 */
import { epochOrder } from "./shuffle.ts";

/** The data of `split`, or an error naming the splits `source` has. */
export function requireSplit<T>(source: string, data: Record<string, T>, split: string): T {
  const found = data[split];
  if (found === undefined) {
    throw new Error(
      `${source} has no split "${split}"; expected one of: ${
        Object.keys(data).join(", ") || "(none: the source was disposed)"
      }`,
    );
  }
  return found;
}

/** The shuffled order of each split for the last (seed, epoch) asked. */
export class EpochOrders {
  readonly #orders = new Map<string, { key: string; order: Int32Array }>();

  /** The order of `size` samples of `split` in epoch `epoch` under `seed`. */
  get(split: string, size: number, options: { seed: number; epoch: number }): Int32Array {
    const key = `${size}/${options.seed}/${options.epoch}`;
    const cached = this.#orders.get(split);
    if (cached?.key === key) return cached.order;
    const order = epochOrder(size, options);
    this.#orders.set(split, { key, order });
    return order;
  }

  /** Forgets every cached order. */
  clear(): void {
    this.#orders.clear();
  }
}
