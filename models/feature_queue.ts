/**
 * A queue of past features — MoCo's dictionary
 * ({@link https://arxiv.org/abs/1911.05722 | arXiv 1911.05722}, §3.2) and
 * ALBEF's 65,536 momentum features
 * ({@link https://arxiv.org/abs/2107.07651 | arXiv 2107.07651}, §3.3): a
 * buffer `<name>.queue` `[K, D]` of the last K rows its input produced, the
 * oldest overwritten first. Its output is the queue as it stood before this
 * step (a constant: extra negatives for `clip`'s `image_queue`/`text_queue`);
 * after every applied update the step's rows — the input flattened to
 * `[N, D]`, N = its leading axes' product — are written at the ring position
 * `((u − 1)·N) mod K` onwards, wrapping around (under `train.accumulate`
 * every micro-batch's rows, in order: N = A·B, as one batch of A·B would
 * write), `u` the applied updates
 * counted with this one (MoCo's `queue_ptr`, derived from the count so a
 * resumed run continues exactly). MoCo asserts K a multiple of N; here the
 * rows wrap, and with N > K the last K rows stay.
 *
 * The queue starts as random unit rows drawn from the node's seed (MoCo and
 * ALBEF start from `normalize(randn)`), and is checkpointed with the run. On
 * WebGPU the write is the in-place update of `core/average_update.ts` with
 * factor 1 onto the queue with the step's rows gathered into their slots —
 * inside the recorded step, gated by the step report, the slots a host value
 * each replay computes from its own update count.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { moveAverages } from "../core/average_update.ts";
import { hostValue } from "../core/host_value.ts";
import { Rng } from "../core/rng.ts";
import type { Tensor, Variable } from "../core/tensor.ts";
import { MicroBatchPending } from "./micro_batch_pending.ts";
import type {
  ForwardContext,
  Module,
  NodeValue,
  Parameter,
  UpdateProgress,
} from "../core/types.ts";

/** Options of a {@link FeatureQueue}. */
export interface FeatureQueueOptions {
  /** Rows K. */
  size: number;
  /** Width D of a row. */
  dim: number;
  /** Seed of the initial random unit rows. */
  seed: number;
}

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

/**
 * Writes a step's rows into a ring queue at the slots of {@linkcode queueSlots}
 * for the update `progress` counts, in place (the fused average update at
 * factor 1: exact), and not where the step report `guard` says the step was
 * skipped. Disposes `rows`.
 *
 * @param queue The queue `[K, ...]`, updated in place.
 * @param rows The step's rows `[N, ...]` (same trailing shape and dtype).
 * @param one A float32 `[1]` tensor holding 1 (the update factor). Not disposed.
 * @param guard The step report, if any. Not disposed.
 * @param progress The update count (absent: the first update).
 */
export function writeQueueRows(
  queue: Variable,
  rows: Tensor,
  one: Tensor,
  guard?: Tensor,
  progress?: UpdateProgress,
): void {
  const size = queue.shape[0]!, count = rows.shape[0]!;
  // A host value: a replayed step computes the slots of its own update count.
  const slots = hostValue(() => queueSlots(size, count, progress?.updates() ?? 1), [size]);
  const next = tf.tidy(() => tf.gather(tf.concat([queue, rows]), slots));
  try {
    moveAverages([{ average: queue, source: next }], one, guard);
  } finally {
    tf.dispose([slots, next, rows]);
  }
}

/** `[..., D]` → the queue `[K, D]` of earlier steps' rows. */
export class FeatureQueue implements Module {
  /** None: the queue is not trained. */
  readonly parameters: Parameter[] = [];
  /** The queue `<name>.queue` `[K, D]`. */
  readonly buffers: Parameter[];
  readonly #queue: Variable;
  readonly #one: Tensor;
  /** The training step's rows (every micro-batch's), written by `afterStep`. */
  readonly #pending = new MicroBatchPending();

  /** Creates a queue of random unit rows under `name`. */
  constructor(readonly options: FeatureQueueOptions, readonly name: string) {
    const { size, dim, seed } = options;
    const rng = new Rng(seed);
    const rows = Float32Array.from({ length: size * dim }, () => rng.normal());
    for (let r = 0; r < size; r++) {
      const row = rows.subarray(r * dim, (r + 1) * dim);
      const norm = Math.hypot(...row) || 1;
      for (let k = 0; k < dim; k++) row[k]! /= norm;
    }
    this.#queue = tf.tidy(() => tf.variable(tf.tensor2d(rows, [size, dim]), false));
    this.#one = tf.tensor1d([1]);
    // Not model state: `train.ema` does not average it.
    this.buffers = [{
      name: `${name}.queue`,
      variable: this.#queue,
      decay: false,
      averaged: false,
    }];
  }

  /** The queue before this step; in training, keeps the step's rows for `afterStep`. */
  forward(inputs: NodeValue[], ctx: ForwardContext): Tensor {
    const x = inputs[0];
    const { dim } = this.options;
    if (!(x instanceof tf.Tensor) || x.shape.at(-1) !== dim) {
      const got = x instanceof tf.Tensor ? `[${x.shape.join(", ")}]` : "strings";
      throw new Error(`node "${this.name}" (queue) expects features [..., ${dim}], got ${got}`);
    }
    const rows = x.size / dim;
    if (ctx.training && ctx.statistics !== false) {
      this.#pending.add(tf.tidy(() => tf.reshape(x, [rows, dim])), ctx, rows);
    }
    return tf.clone(this.#queue);
  }

  /** Writes the training step's rows into their slots (not on a skipped step). */
  afterStep(guard?: Tensor, progress?: UpdateProgress): void {
    const rows = this.#pending.takeRows();
    if (rows) writeQueueRows(this.#queue, rows, this.#one, guard, progress);
  }

  /** Forgets the last step's rows (the compiler's dry runs leave some). */
  dropBatchStatistics(): void {
    this.#pending.clear();
  }

  /** Releases the queue and any pending rows. */
  dispose(): void {
    this.dropBatchStatistics();
    this.#queue.dispose();
    this.#one.dispose();
  }
}
