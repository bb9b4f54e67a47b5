/**
 * The training batches of each step, read ahead: while a step computes, the
 * next micro-batch loads (decodes, augments on the host). Batches are read by
 * index (random access), so prefetching changes no result.
 *
 * @module
 */
import type { Batch, DataSource } from "./types.ts";

/** Loads a step's micro-batches and starts loading the next one. */
export class BatchPrefetch {
  readonly #pending = new Map<number, Promise<Batch>>();

  /**
   * @param source The data source (its `train` split).
   * @param options Batch size, micro-batches per step and the data order's seed.
   */
  constructor(
    readonly source: DataSource,
    readonly options: { batch: number; accumulate: number; seed: number },
  ) {}

  /** Step `step`'s micro-batches (prefetching the next) and the time spent waiting for them. */
  async step(step: number): Promise<{ batches: Batch[]; dataMs: number }> {
    const { accumulate } = this.options;
    const batches: Batch[] = [];
    let dataMs = 0;
    for (let micro = 0; micro < accumulate; micro++) {
      const batchIndex = step * accumulate + micro;
      const waitStart = performance.now();
      batches.push(await this.#fetch(batchIndex));
      dataMs += performance.now() - waitStart;
      // Prefetch: the next micro-batch loads (decodes) while this one computes.
      this.#pending.set(batchIndex + 1, this.#fetch(batchIndex + 1));
    }
    return { batches, dataMs };
  }

  /** Waits until the batches being prefetched are loaded (or failed; their step reports it). */
  async settle(): Promise<void> {
    await Promise.allSettled(this.#pending.values());
  }

  /** Releases the batches still being prefetched. */
  async close(): Promise<void> {
    const pending = [...this.#pending.values()];
    this.#pending.clear();
    for (const batch of await Promise.allSettled(pending)) {
      if (batch.status === "fulfilled") batch.value.image.dispose();
    }
  }

  /** Micro-batch `batchIndex`: the one prefetched, or a new load. */
  #fetch(batchIndex: number): Promise<Batch> {
    const pending = this.#pending.get(batchIndex);
    if (pending) {
      this.#pending.delete(batchIndex);
      return pending;
    }
    return this.source.batch("train", batchIndex, {
      batchSize: this.options.batch,
      seed: this.options.seed,
      shuffle: true,
      dropLast: true,
    });
  }
}
