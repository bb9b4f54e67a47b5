/**
 * The ring buffer behind the `queue` and `group_queue` nodes: a
 * non-trainable variable `[K, ...]` of the last K rows training steps gave,
 * the oldest overwritten first. A training forward keeps its rows (every
 * micro-batch's, `models/micro_batch_pending.ts`); after every applied update
 * they are written at the ring position `((u − 1)·N) mod K` onwards, wrapping
 * around, `u` the applied updates counted with this one (MoCo's `queue_ptr`,
 * derived from the count so a resumed run continues exactly). Two rings of
 * the same size fed the same batches write the same slots.
 *
 * On WebGPU the write is the in-place update of `core/average_update.ts` with
 * factor 1 (exact) onto the ring with the step's rows gathered into their
 * slots — inside the recorded step, gated by the step report, the slots a
 * host value each replay computes from its own update count.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { moveAverages } from "../core/average_update.ts";
import { hostValue } from "../core/host_value.ts";
import type { Tensor, Variable } from "../core/tensor.ts";
import type {
  ForwardContext,
  Module,
  NodeValue,
  Parameter,
  UpdateProgress,
} from "../core/types.ts";
import { MicroBatchPending } from "./micro_batch_pending.ts";

/**
 * For a queue of `size` rows taking `rows` per step at update `updates`
 * (counted with this one): the source row of every slot in
 * `concat([queue, step rows])` — the slot itself, or `size + j` for the
 * step's row j, written at `(pointer + j) mod K` (the last such j when the
 * rows wrap past a slot more than once).
 *
 * @param size K.
 * @param rows N.
 * @param updates Applied updates, this one included (≥ 1).
 * @returns `[K]` gather indices.
 */
export function queueSlots(size: number, rows: number, updates: number): Int32Array {
  const pointer = ((Math.max(updates, 1) - 1) * rows) % size;
  return Int32Array.from({ length: size }, (_, slot) => {
    const first = (((slot - pointer) % size) + size) % size;
    if (first >= rows) return slot;
    return size + first + size * Math.floor((rows - 1 - first) / size);
  });
}

/** A ring of K rows, written after every applied update with the step's rows. */
export class QueueRing {
  /** The ring `[K, ...]` (float32, not trainable). */
  readonly variable: Variable;
  readonly #one: Tensor;
  /** The training step's rows (every micro-batch's), written by `write`. */
  readonly #pending = new MicroBatchPending();

  /**
   * Takes `initial` (`[K, ...]`, disposed) as the ring's starting rows.
   *
   * @param initial The starting rows; the ring owns a variable made from them.
   */
  constructor(initial: Tensor) {
    this.variable = tf.variable(initial, false);
    initial.dispose();
    this.#one = tf.tensor1d([1]);
  }

  /**
   * Keeps a training forward's rows `[N, ...]` (made by `rows` only then) for
   * the write after the update — not in evaluation, nor in a teacher's
   * forward (`ctx.statistics` false).
   */
  keep(ctx: ForwardContext, rows: () => Tensor): void {
    if (!ctx.training || ctx.statistics === false) return;
    const kept = rows();
    this.#pending.add(kept, ctx, kept.shape[0]!);
  }

  /** Writes the step's kept rows into their slots (not where `guard` says the step was skipped). */
  write(guard?: Tensor, progress?: UpdateProgress): void {
    const rows = this.#pending.takeRows();
    if (!rows) return;
    const size = this.variable.shape[0]!, count = rows.shape[0]!;
    // A host value: a replayed step computes the slots of its own update count.
    const slots = hostValue(() => queueSlots(size, count, progress?.updates() ?? 1), [size]);
    const next = tf.tidy(() => tf.gather(tf.concat([this.variable, rows]), slots));
    try {
      moveAverages([{ average: this.variable, source: next }], this.#one, guard);
    } finally {
      tf.dispose([slots, next, rows]);
    }
  }

  /** Forgets the kept rows (the compiler's dry runs leave some). */
  drop(): void {
    this.#pending.clear();
  }

  /** Releases the ring and any kept rows. */
  dispose(): void {
    this.drop();
    this.variable.dispose();
    this.#one.dispose();
  }
}

/**
 * A node backed by one {@linkcode QueueRing}, `<name>.queue`: no trained
 * parameters, the ring as a buffer (checkpointed; `train.ema` leaves it
 * alone), written after every applied update, dropped after dry runs.
 */
export abstract class RingQueueModule implements Module {
  /** None: the queue is not trained. */
  readonly parameters: Parameter[] = [];
  /** The ring `<name>.queue`. */
  readonly buffers: Parameter[];
  /** The ring the subclass reads and keeps its rows in. */
  protected readonly ring: QueueRing;

  /** Takes `initial` as the ring's starting rows (disposed), under `<name>.queue`. */
  constructor(initial: Tensor, readonly name: string) {
    this.ring = new QueueRing(initial);
    // Not model state: `train.ema` does not average it.
    this.buffers = [{
      name: `${name}.queue`,
      variable: this.ring.variable,
      decay: false,
      averaged: false,
    }];
  }

  /** The node's output; in training, keeps the step's rows in the ring. */
  abstract forward(inputs: NodeValue[], ctx: ForwardContext): Tensor;

  /** Writes the training step's rows into their slots (not on a skipped step). */
  afterStep(guard?: Tensor, progress?: UpdateProgress): void {
    this.ring.write(guard, progress);
  }

  /** Forgets the last step's rows (the compiler's dry runs leave some). */
  dropBatchStatistics(): void {
    this.ring.drop();
  }

  /** Releases the ring and any kept rows. */
  dispose(): void {
    this.ring.dispose();
  }
}
