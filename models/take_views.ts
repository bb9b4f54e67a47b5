/**
 * A range of views of a multi-view value: `[V, B, ...]` → `[n, B, ...]`, the
 * views `start … start + count − 1` — e.g. the global crops of a ViT that
 * encodes global and local crops together (`vit` over `[views, local]` gives
 * the global views first), for a loss that should see only them. At
 * inference a `views` node gives one view, so the range is cut to the views
 * there are (none left is an error).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { ForwardContext, Module, NodeValue, Parameter } from "../core/types.ts";
import type { Tensor } from "../core/tensor.ts";

/** Views `start … start + count − 1` along the leading axis. */
export class TakeViews implements Module {
  /** No parameters. */
  readonly parameters: Parameter[] = [];

  /** Takes `count` views from view `start`. */
  constructor(readonly options: { start: number; count: number }, readonly name: string) {}

  /** `[V, B, ...]` → `[min(count, V − start), B, ...]`. */
  forward(inputs: NodeValue[], _ctx: ForwardContext): Tensor {
    const x = inputs[0];
    if (!(x instanceof tf.Tensor) || x.rank < 3) {
      const got = x instanceof tf.Tensor ? `[${x.shape.join(", ")}]` : "strings";
      throw new Error(
        `node "${this.name}" (take_views) expects views [V, B, ...] (a views node's, or a ` +
          `vit's over one), got ${got}`,
      );
    }
    const { start, count } = this.options;
    const views = x.shape[0]!;
    const size = Math.min(count, views - start);
    if (size <= 0) {
      throw new Error(
        `node "${this.name}" (take_views): view ${start} of ${views} does not exist ` +
          `(views 0 … ${views - 1})`,
      );
    }
    if (start === 0 && size === views) return tf.clone(x);
    return tf.slice(x, [start, ...x.shape.slice(1).map(() => 0)], [size, ...x.shape.slice(1)]);
  }

  /** Nothing to release. */
  dispose(): void {}
}
