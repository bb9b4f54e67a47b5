/**
 * The gradients of one optimiser step over its micro-batches, in the two ways
 * `train.accumulate` can mean:
 *
 * - **averaged** (default): each micro-batch's losses and gradients on their
 *   own, averaged — a contrastive loss then sees `batch` samples, not
 *   `batch × accumulate`;
 * - **`train.gradient_cache`** (GradCache: Gao, Zhang, Han & Callan,
 *   "Scaling Deep Contrastive Learning Batch Size under Memory Limited
 *   Setup", RepL4NLP 2021; open_clip's `--accum-freq`): every micro-batch is
 *   first encoded off the gradient tape up to the losses' inputs; the losses
 *   run once on their concatenation (the whole step's samples: every other
 *   sample is a negative) and give their gradients `G` with respect to those
 *   inputs; then each micro-batch is encoded again on the tape and
 *   back-propagates `Σ R_m ⊙ G_m`, its share. The parameter gradients are
 *   the whole batch's, exactly, while the tape holds one micro-batch: for one
 *   more forward pass of the towers.
 *
 * The second pass repeats the first bit for bit: the same step seeds (views,
 * patch dropout, stochastic depth) and the same micro-batch for each batch
 * norm (both passes normalise with the micro-batch's statistics, as
 * open_clip's do; only the second keeps them for the running ones, and only
 * the second feeds queues and centres).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { withFields } from "./forward_context.ts";
import { disposeValues } from "./graph.ts";
import { leanGradients } from "./lean_gradients.ts";
import { accumulateGradients, addMicroGradients, gradientFreeNodes } from "./step_parts.ts";
import type { StepParts } from "./step_parts.ts";
import type { ForwardContext, NodeValue } from "./types.ts";
import type { Scalar, Tensor } from "./tensor.ts";
import { addAll } from "./ops.ts";

/** One micro-batch of a step: its batch values (`batch.*`) and forward context. */
export interface MicroBatch {
  /** The graph's batch values; node outputs are added and disposed along the way. */
  values: Map<string, NodeValue>;
  /** Its forward context (`stepContext`). */
  ctx: ForwardContext;
}

/**
 * The step's gradients (by parameter name) and losses `[total, ...terms]`
 * over `micro`, averaged or through the gradient cache as `parts.config`
 * says. The caller disposes both. `captions` are the micro-batches' captions
 * joined, as the gradient cache's losses read them: a recorded step passes
 * the list it gave as a host input, so a replay finds it (caption groups).
 */
export function stepGradients(
  parts: StepParts,
  micro: MicroBatch[],
  captions?: string[],
): { grads: Map<string, Tensor>; losses: Tensor } {
  const sums = new Map<string, Tensor>();
  if (parts.config.gradient_cache && micro.length > 1) {
    const joinedCaptions = captions ??
      micro.flatMap(({ values }) => values.get("batch.caption") as string[]);
    return { grads: sums, losses: cachedGradients(parts, micro, sums, joinedCaptions) };
  }
  const lossSums = micro.map(({ values, ctx }) => accumulateGradients(parts, values, ctx, sums));
  const n = micro.length;
  if (n === 1) return { grads: sums, losses: lossSums[0]! };
  const names = [...sums.keys()];
  const averaged = tf.tidy(() => names.map((k) => tf.div(sums.get(k)!, n)));
  const losses = tf.tidy(() => tf.div(addAll(lossSums), n));
  tf.dispose([...sums.values(), ...lossSums]);
  return { grads: new Map(names.map((k, i) => [k, averaged[i]!])), losses };
}

/** The distinct references the active loss terms read. */
function lossInputs(parts: StepParts): string[] {
  const refs = new Set<string>();
  for (const loss of parts.graph.spec.losses) {
    if (!parts.active.has(loss.name)) continue;
    for (const ref of Object.values(loss.inputs)) {
      for (const r of Array.isArray(ref) ? ref : [ref]) refs.add(r);
    }
  }
  return [...refs];
}

/**
 * The batch axis of `ref`'s values (the axis the compiler saw grow with the
 * batch), or `null` for a value shared by the whole step (a logit scale).
 */
function batchAxis(parts: StepParts, ref: string): number | null {
  const shape = parts.graph.shapes.get(ref);
  const axes = (shape ?? []).flatMap((d, i) => typeof d === "string" ? [i] : []);
  const odd = axes.find((i) => shape![i] !== "B");
  if (shape !== undefined && odd !== undefined) {
    throw new Error(
      `train.gradient_cache: loss input "${ref}" [${shape.join(", ")}] has axis ${odd} growing ` +
        `as ${shape[odd]}, not as the batch (a queue's rows after the batch's?); expected one ` +
        `batch axis (or none) to join the micro-batches along`,
    );
  }
  if (shape === undefined || axes.length > 1) {
    throw new Error(
      `train.gradient_cache: loss input "${ref}" has ${
        shape ? `batch axes ${axes.join(", ")} in [${shape.join(", ")}]` : "no measured shape"
      }; expected one batch axis (or none) to join the micro-batches along`,
    );
  }
  return axes[0] ?? null;
}

/**
 * The gradient-free nodes whose first-pass outputs the second pass reuses:
 * those with weights of their own (a frozen tower, a momentum teacher:
 * costly to run again) that keep no per-forward statistics (no
 * `dropBatchStatistics`: batch norms, centres and queues record the second
 * pass's). Parameterless ones (views, text towers with their caches) run
 * again: cheap, and their outputs can be large.
 */
function reusedNodes(parts: StepParts, free: ReadonlySet<string>): Set<string> {
  return new Set([...free].filter((name) => {
    const module = parts.graph.modules.get(name)!;
    const weighted = module.parameters.length > 0 || (module.buffers?.length ?? 0) > 0;
    return weighted && module.dropBatchStatistics === undefined;
  }));
}

/** `ref`'s per-micro-batch values joined along `axis` (`null`: the first micro-batch's). */
function joined(values: NodeValue[], axis: number | null): NodeValue {
  if (axis === null) return values[0]!;
  if (Array.isArray(values[0])) return (values as string[][]).flat();
  return tf.concat(values as Tensor[], axis);
}

/**
 * GradCache over `micro` (see the module notes): adds the whole batch's
 * gradients into `sums` and returns its losses `[total, ...terms]`.
 */
function cachedGradients(
  parts: StepParts,
  micro: MicroBatch[],
  sums: Map<string, Tensor>,
  captions: string[],
): Tensor {
  const refs = lossInputs(parts);
  const free = new Set(gradientFreeNodes(parts));
  const reused = reusedNodes(parts, free);
  const keptNodes = new Set([...refs, ...reused]);
  const axes = new Map(refs.map((r) => [r, batchAxis(parts, r)]));
  const sizes = micro.map(({ values }) => (values.get("batch.label") as Tensor).shape[0]!);
  const made: Tensor[] = [];
  try {
    // Pass 1: every micro-batch off the tape, keeping the losses' inputs.
    const cached = micro.map(({ values, ctx }, m) => {
      const copy = new Map(values);
      const own = new Set(values.values());
      tf.tidy(() => {
        parts.graph.forward(copy, withFields(ctx, { statistics: false }), parts.lossTargets);
        for (const r of keptNodes) {
          const v = copy.get(r);
          // A node may output a variable itself (a logit scale): never the step's to dispose.
          if (v instanceof tf.Tensor && !(v instanceof tf.Variable) && !own.has(v)) {
            made.push(tf.keep(v));
          }
        }
      });
      for (const [r, axis] of axes) {
        const v = copy.get(r)!;
        const rows = axis === null ? sizes[m] : Array.isArray(v) ? v.length : v.shape[axis];
        if (rows !== sizes[m]) {
          throw new Error(
            `train.gradient_cache: loss input "${r}" has ${rows} rows along its batch axis for ` +
              `a micro-batch of ${sizes[m]} (a queue's rows are not the micro-batch's); ` +
              "leave gradient_cache out for this recipe",
          );
        }
      }
      return copy;
    });
    const whole = new Map(refs.map((r) => {
      const value = r === "batch.caption"
        ? captions
        : joined(cached.map((c) => c.get(r)!), axes.get(r)!);
      if (value instanceof tf.Tensor && !(value instanceof tf.Variable) && !made.includes(value)) {
        made.push(value);
      }
      return [r, value];
    }));
    // The losses on the whole batch, and their gradients with respect to the trained inputs.
    const trained = refs.filter((r) => !r.startsWith("batch.") && !free.has(r));
    let losses: Tensor | undefined;
    const { value, grads } = leanGradients(() => {
      const { total, terms } = parts.graph.losses(new Map(whole), micro[0]!.ctx, parts.active);
      losses = tf.keep(tf.stack([total, ...terms.values()]));
      return total;
    }, trained.map((r) => whole.get(r) as Tensor));
    value.dispose();
    made.push(...grads.filter((g): g is Tensor => g !== undefined));
    // Pass 2: each micro-batch on the tape, back-propagating its share of G.
    let offset = 0;
    micro.forEach(({ values, ctx }, m) => {
      const at = offset;
      offset += sizes[m]!;
      // The frozen towers' and teachers' outputs of pass 1 stand: they are not run again.
      for (const n of reused) {
        const v = cached[m]!.get(n);
        if (v !== undefined) values.set(n, v);
      }
      const sharing = trained.filter((r, i) => grads[i] && (axes.get(r) !== null || m === 0));
      if (sharing.length === 0) {
        // Nothing of this micro-batch carries a gradient (only a shared input trains, counted
        // at micro-batch 0): its forward pass still runs, for its statistics and queue rows.
        const own = new Set(values.values());
        tf.tidy(() => parts.graph.forward(values, ctx, parts.lossTargets));
        disposeValues(new Map([...values].filter(([, v]) => !own.has(v))));
        return;
      }
      addMicroGradients(parts, values, ctx, sums, () => {
        const shares = sharing.map((r) => {
          const g = grads[trained.indexOf(r)]!, axis = axes.get(r)!;
          const begin = g.shape.map((_, k) => k === axis ? at : 0);
          const size = g.shape.map((d, k) => k === axis ? sizes[m]! : d);
          const share = axis === null ? g : tf.slice(g, begin, size);
          return tf.sum(tf.mul(values.get(r) as Tensor, share));
        });
        return (shares.length === 1 ? shares[0]! : tf.addN(shares)) as Scalar;
      });
    });
    return losses!;
  } finally {
    tf.dispose(made);
  }
}
