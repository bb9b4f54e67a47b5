/**
 * A table of choices measured on the device, keyed by the shape of the work
 * they were measured for, with recorders that list the shapes a step runs:
 * what the matmul tilings (`kernels/matmul_tuning.ts`), the attention's dK/dV
 * form (`kernels/attention_tuning.ts`) and the LayerNorm backward's form
 * (`kernels/layernorm_tuning.ts`) are tuned with.
 *
 * @module
 */

/** The distinct shapes seen since a recording started. */
export interface ShapeRecording<S> {
  /** The distinct shapes seen so far, in the order first seen. */
  shapes(): S[];
  /** How many times each shape ran, by key (a step's calls: what a choice's gain is weighted by). */
  counts(): Map<string, number>;
  /** Stops recording (the shapes stay readable). */
  stop(): void;
}

/** Choices of type `C` keyed by shapes of type `S` (through `keyOf`), and shape recorders. */
export class TuningTable<S, C> {
  readonly #choices = new Map<string, C>();
  readonly #recorders = new Set<Map<string, { shape: S; count: number }>>();

  /** A table whose entries are keyed by `keyOf(shape)`. */
  constructor(readonly keyOf: (shape: S) => string) {}

  /** Entries held. */
  get size(): number {
    return this.#choices.size;
  }

  /** Makes `choice` the entry of `shape`. */
  set(shape: S, choice: C): void {
    this.#choices.set(this.keyOf(shape), choice);
  }

  /** The entry of `shape`, if any (skips the key when the table is empty). */
  get(shape: S): C | undefined {
    return this.#choices.size > 0 ? this.#choices.get(this.keyOf(shape)) : undefined;
  }

  /** Forgets every entry. */
  clear(): void {
    this.#choices.clear();
  }

  /** Tells the running recordings that `shape` ran. */
  note(shape: S): void {
    if (this.#recorders.size === 0) return;
    const key = this.keyOf(shape);
    for (const seen of this.#recorders) {
      const entry = seen.get(key);
      if (entry) entry.count++;
      else seen.set(key, { shape, count: 1 });
    }
  }

  /** Starts a recording of the shapes {@linkcode TuningTable.note} is told of. */
  record(): ShapeRecording<S> {
    const seen = new Map<string, { shape: S; count: number }>();
    this.#recorders.add(seen);
    return {
      shapes: () => [...seen.values()].map((e) => e.shape),
      counts: () => new Map([...seen].map(([key, e]) => [key, e.count])),
      stop: () => void this.#recorders.delete(seen),
    };
  }
}
