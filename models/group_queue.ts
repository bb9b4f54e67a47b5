/**
 * A queue of earlier batches' group ids beside feature queues — ALBEF's
 * `idx_queue` (its retrieval fine-tuning, `models/model_retrieval.py`:
 * `pos_idx = eq(idx, cat([idx, idx_queue]))`, `sim_targets = pos_idx /
 * pos_idx.sum(1)`), so `clip`'s `groups` can combine with `image_queue` and
 * `text_queue`: a queued feature whose sample shares the query's group is a
 * positive, not a negative. On data whose captions repeat (class-template
 * captions: MNIST's ten, ImageNet's thousand) a queue of K features holds
 * about K / classes rows of the query's own class; without their ids every one
 * of them is pushed away.
 *
 * The node reads the batch's groups — `batch.label` (int32 `[B]`, < 0 unknown)
 * or `batch.caption` (equal captions, one group: each caption's id is its
 * FNV-1a hash cut to 24 bits, so equal captions meet across batches; two
 * different captions share an id with probability 2⁻²⁴ per pair, so with
 * all-distinct captions a batch of 256 against 4,096 queued ones meets one
 * false positive in ~6 % of steps) — and outputs `[B + K]`
 * int32 ids: this batch's, then the queue's as it stood before the step. Bind
 * it to `clip`'s `groups` input. After every applied update the batch's ids
 * are written where the feature queues write their rows (same ring, same
 * slots: give it the same size and feed it the same batches), under
 * `train.accumulate` every micro-batch's, as the feature queues do.
 *
 * The ids are kept as float32 `<name>.queue` `[K]` (exact below 2²⁴: labels
 * are class indices) so the write is the same in-place, replayable update as
 * the feature queues'; the queue starts at −1 (unknown: never a positive) and
 * is checkpointed with the run.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { fnv1a32 } from "../core/fnv1a.ts";
import { hostValue } from "../core/host_value.ts";
import type { Tensor } from "../core/tensor.ts";
import type { ForwardContext, NodeValue } from "../core/types.ts";
import { RingQueueModule } from "./queue_ring.ts";

/** Ids of caption groups are below this bound (24 bits: exact in float32). */
export const CAPTION_ID_BITS = 24;

/**
 * Stable group ids of captions: equal strings get equal ids in every batch
 * (the FNV-1a hash of the UTF-8 bytes, cut to {@linkcode CAPTION_ID_BITS} bits).
 *
 * @param texts The batch's captions.
 * @returns `[B]` ids in `[0, 2²⁴)`.
 */
export function captionGroupIds(texts: readonly string[]): Int32Array {
  const mask = 2 ** CAPTION_ID_BITS - 1;
  return Int32Array.from(texts, (text) => fnv1a32(text) & mask);
}

/** `batch.label` or `batch.caption` → `[B + K]` int32 group ids: the batch's, then the queue's. */
export class GroupQueue extends RingQueueModule {
  /** Creates a queue of `size` unknown ids (−1) under `name`. */
  constructor(readonly size: number, name: string) {
    super(tf.fill([size], -1), name);
  }

  /** The batch's ids and the queue's before this step; in training, keeps the batch's. */
  forward(inputs: NodeValue[], ctx: ForwardContext): Tensor {
    const ids = this.#batchIds(inputs[0]);
    this.ring.keep(ctx, () => tf.cast(ids, "float32"));
    return tf.tidy(() => {
      const all = tf.concat([ids, tf.cast(this.ring.variable, "int32")]);
      ids.dispose();
      return all;
    });
  }

  /** int32 `[B]` ids of the node's input (labels as given, captions hashed). */
  #batchIds(value: NodeValue | undefined): Tensor {
    if (Array.isArray(value) && value.every((v) => typeof v === "string")) {
      const texts = value as string[];
      // A host value: a replayed step hashes its own batch's captions.
      return hostValue((host) => captionGroupIds(host.input(texts)), [texts.length]);
    }
    if (value instanceof tf.Tensor && value.rank === 1 && value.dtype === "int32") {
      return tf.clone(value);
    }
    const got = value instanceof tf.Tensor
      ? `${value.dtype} [${value.shape.join(", ")}]`
      : Array.isArray(value)
      ? "a list that is not all strings"
      : String(value);
    throw new Error(
      `node "${this.name}" (group_queue) expects group ids: batch.label (int32 [B]) or ` +
        `batch.caption (B strings), got ${got}`,
    );
  }
}
