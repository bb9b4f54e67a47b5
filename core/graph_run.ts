/**
 * A compiled recipe graph: executes the training graph (all nodes, all loss
 * terms) and the inference graph (train-only nodes dropped).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { InferenceModel, LossTerm } from "./components.ts";
import { ReplayedInference } from "./inference_replay.ts";
import { type GraphSpec, type NodeSpec, referencedNode } from "./graph_spec.ts";
import { deriveSeed } from "./rng.ts";
import { trainedParameters } from "./trained_parameters.ts";
import { teacherSource } from "./graph_teachers.ts";
import { withFields } from "./forward_context.ts";
import type {
  Batch,
  ForwardContext,
  Module,
  NodeValue,
  Parameter,
  UpdateProgress,
} from "./types.ts";
import type { Scalar, Tensor } from "./tensor.ts";

/** Values by reference (`batch.image`, node names). */
export type GraphValues = Map<string, NodeValue>;

/**
 * A node output shape; batch axes are written `"B"`, other axes that grow with
 * the batch as what they measure (`"B + 4096"`: a queue's rows after the batch's,
 * `"2B"`).
 */
export type DisplayShape = (number | string)[];

/**
 * An axis measured as `a` at batch size `sizeA` and `b` at `sizeB`: the number
 * when equal, else `m·B + c` written `"B"`, `"2B"`, `"B + 4096"` (or `"?"` when
 * it is not an affine function of the batch with a positive integer slope).
 * Two sizes cannot tell an affine axis from another growth (B² reads as
 * `"5B − 6"` at 2 and 3); graph nodes' axes grow affinely (views × B, B + K).
 *
 * @param a The axis at batch size `sizeA`.
 * @param b The axis at batch size `sizeB` (≠ `sizeA`).
 * @param sizeA One batch size.
 * @param sizeB The other.
 * @returns The axis for display.
 */
export function batchAxisText(a: number, b: number, sizeA: number, sizeB: number): number | string {
  if (a === b) return a;
  const slope = (a - b) / (sizeA - sizeB);
  if (!Number.isInteger(slope) || slope <= 0) return "?";
  const offset = a - slope * sizeA;
  const term = slope === 1 ? "B" : `${slope}B`;
  return offset === 0 ? term : offset > 0 ? `${term} + ${offset}` : `${term} − ${-offset}`;
}

/** Loss values of one step. */
export interface LossValues {
  /** Σ weight · term (the term's own tensor when it is the only one, of weight 1). */
  total: Scalar;
  /** Unweighted value of each term, by term name. */
  terms: Map<string, Scalar>;
}

/** The training graph and, by dropping train-only nodes, the inference graph. */
export class CompiledGraph {
  /** Output shape of every node (batch axes as `"B"`; {@link DisplayShape}), filled by the compiler. */
  shapes: Map<string, DisplayShape> = new Map();

  /** Wraps built modules; use {@link compileGraph} rather than this constructor. */
  constructor(
    readonly spec: GraphSpec,
    readonly order: NodeSpec[],
    readonly modules: Map<string, Module>,
    readonly terms: LossTerm[],
  ) {}

  /**
   * Every parameter the optimiser trains, in node order (frozen nodes'
   * excluded), with its learning-rate multiplier (`lrScale`: the node's
   * `lr_scale`, times its layer's under `layer_decay`) and first step
   * (`startStep`: `freeze: { until }`; `core/trained_parameters.ts`).
   *
   * @param step Only those trained at this step (0-based): without it, every
   *   parameter trained at some step, the optimiser's set.
   */
  parameters(step?: number): Parameter[] {
    return this.order
      .filter((n) => !n.freeze && (step === undefined || (n.frozenUntil ?? 0) <= step))
      .flatMap((n) => trainedParameters(n, this.modules.get(n.name)!));
  }

  /**
   * The steps at which a training phase starts after step 0: the trained set
   * changes (nodes' `freeze: { until }`) or a module's training computation
   * does (`Module.changesAt`: a `vit`'s `patch_dropout` `until`), ascending:
   * a trainer rebuilds its step there.
   */
  phaseSteps(): number[] {
    const steps = this.order.flatMap((n) => [
      ...(n.frozenUntil === undefined ? [] : [n.frozenUntil]),
      ...(this.modules.get(n.name)!.changesAt ?? []),
    ]).filter((s) => s > 0);
    return [...new Set(steps)].sort((a, b) => a - b);
  }

  /**
   * The first step of the training phase `step` belongs to (0, or the last
   * of {@linkcode CompiledGraph.phaseSteps} at or before it): what
   * `ForwardContext.phase` holds.
   */
  phaseStart(step: number): number {
    return this.phaseSteps().filter((s) => s <= step).at(-1) ?? 0;
  }

  /** Parameters of the nodes marked `freeze: true`, in node order. */
  frozenParameters(): Parameter[] {
    return this.order.filter((n) => n.freeze)
      .flatMap((n) => this.modules.get(n.name)!.parameters);
  }

  /**
   * Non-trainable state (BatchNorm running statistics, momentum teachers'
   * weights) of the training graph; with `teachers: false`, the teachers'
   * left out (`train.ema` does not average what is an average already).
   */
  buffers(options: { teachers?: boolean } = {}): Parameter[] {
    return this.order
      .filter((n) => options.teachers ?? true ? true : teacherSource(n) === undefined)
      .flatMap((n) => this.modules.get(n.name)!.buffers ?? []);
  }

  /**
   * Everything a checkpoint holds for the training graph: trained parameters,
   * frozen ones, then buffers.
   */
  state(): Parameter[] {
    return [...this.parameters(), ...this.frozenParameters(), ...this.buffers()];
  }

  /** Everything the inference graph needs: its parameters and buffers. */
  inferenceState(): Parameter[] {
    return this.inferenceNodes().flatMap((n) => {
      const m = this.modules.get(n.name)!;
      return [...m.parameters, ...(m.buffers ?? [])];
    });
  }

  /** Parameters that remain in the inference graph. */
  inferenceParameters(): Parameter[] {
    return this.inferenceNodes().flatMap((n) => this.modules.get(n.name)!.parameters);
  }

  /** Nodes of the inference graph (train-only nodes dropped), in order. */
  inferenceNodes(): NodeSpec[] {
    return this.order.filter((n) => n.phase !== "train");
  }

  /** Names of the nodes `targets` need (themselves included). */
  ancestors(targets: Iterable<string>): Set<string> {
    const byName = new Map(this.order.map((n) => [n.name, n]));
    const needed = new Set<string>();
    const visit = (name: string): void => {
      if (needed.has(name)) return;
      needed.add(name);
      for (const ref of byName.get(name)?.inputs ?? []) {
        const dep = referencedNode(ref);
        if (dep) visit(dep);
      }
    };
    for (const t of targets) visit(t);
    return needed;
  }

  /**
   * The nodes among those `targets` need whose outputs no parameter in
   * `trained` reaches — batch-field chains (`views`), frozen towers, momentum
   * teachers — in order. Their forward passes can run off the gradient tape.
   */
  gradientFree(trained: ReadonlySet<object>, targets: Iterable<string>): string[] {
    const needed = this.ancestors(targets);
    const free = new Set<string>();
    for (const node of this.order) {
      if (!needed.has(node.name)) continue;
      const module = this.modules.get(node.name)!;
      if (module.parameters.some((p) => trained.has(p.variable))) continue;
      const inputsFree = node.inputs.every((r) => {
        const dep = referencedNode(r);
        return dep === undefined || free.has(dep);
      });
      if (inputsFree) free.add(node.name);
    }
    return this.order.filter((n) => free.has(n.name)).map((n) => n.name);
  }

  /**
   * Runs the nodes (all of them, or those `targets` need) on `values`, adding
   * each output to `values`; nodes `values` already holds are not run again.
   * Call inside `tf.tidy`.
   */
  forward(values: GraphValues, ctx: ForwardContext, targets?: Iterable<string>): void {
    const needed = targets ? this.ancestors(targets) : undefined;
    for (const node of this.order) {
      if (needed && !needed.has(node.name)) continue;
      if (values.has(node.name)) continue;
      if (!ctx.training && node.phase === "train") {
        throw new Error(`node "${node.name}" is train-only and absent from the inference graph`);
      }
      const inputs = node.inputs.map((r) => {
        const v = values.get(r);
        if (v === undefined) throw new Error(`node "${node.name}" needs "${r}", not provided`);
        return v;
      });
      const nodeCtx = withFields(ctx, { seed: deriveSeed(ctx.seed, node.name) });
      values.set(node.name, this.modules.get(node.name)!.forward(inputs, nodeCtx));
    }
  }

  /**
   * Computes the loss terms (every one, or those named in `only`) and their
   * weighted total. Call inside `tf.tidy`.
   */
  losses(values: GraphValues, ctx: ForwardContext, only?: ReadonlySet<string>): LossValues {
    const terms = new Map<string, Scalar>();
    let total: Scalar | undefined;
    this.spec.losses.forEach((loss, i) => {
      if (only && !only.has(loss.name)) return;
      const inputs: Record<string, NodeValue | NodeValue[]> = {};
      for (const [role, ref] of Object.entries(loss.inputs)) {
        inputs[role] = Array.isArray(ref) ? ref.map((r) => values.get(r)!) : values.get(ref)!;
      }
      const value = this.terms[i]!.fn(
        inputs,
        withFields(ctx, { seed: deriveSeed(ctx.seed, "loss", i) }),
      );
      terms.set(loss.name, value);
      // A weight of 1 and the first term cost no op (on WebGPU, no dispatch either way).
      const weighted = loss.weight === 1 ? value : tf.mul(value, loss.weight) as Scalar;
      total = total === undefined ? weighted : tf.add(total, weighted);
    });
    return { total: total ?? tf.scalar(0), terms };
  }

  /**
   * Applies post-step hooks (clamps, running statistics) of every module; with
   * `guard`, a step report, hooks keep their state where the step was skipped;
   * `progress` counts the applied updates (momentum teachers' schedules).
   */
  afterStep(guard?: Tensor, progress?: UpdateProgress): void {
    // In node order: a momentum teacher follows its source after the source's own hook.
    for (const node of this.order) this.modules.get(node.name)!.afterStep?.(guard, progress);
  }

  /**
   * The inference graph as evaluators use it; with `replay`, each call form
   * is replayed on WebGPU (`core/inference_replay.ts`: dispose the model when
   * done).
   */
  inference(options: { seed: number; replay?: boolean }): InferenceModel {
    const forward = (target: string, batch: Record<string, NodeValue>): Tensor =>
      tf.tidy(() => {
        const values: GraphValues = new Map();
        for (const [k, v] of Object.entries(batch)) values.set(`batch.${k}`, v);
        this.forward(values, { training: false, step: 0, seed: options.seed }, [target]);
        return values.get(target) as Tensor;
      });
    if (options.replay) return new ReplayedInference(forward, options.seed);
    return { run: (target, batch) => Promise.resolve().then(() => forward(target, batch)) };
  }

  /**
   * Measures node output shapes on two batch sizes; an axis that differs is
   * written as it grows with the batch ({@link batchAxisText}: `"B"`, `"B + K"`).
   */
  measureShapes(a: Batch, b: Batch): Promise<Map<string, DisplayShape>> {
    const run = (batch: Batch): Map<string, number[]> => {
      const shapes = new Map<string, number[]>();
      tf.tidy(() => {
        const values: GraphValues = new Map<string, NodeValue>([
          ["batch.image", batch.image],
          ["batch.caption", batch.caption],
          ["batch.label", tf.tensor1d(batch.label, "int32")],
        ]);
        this.forward(values, { training: true, step: 0, seed: 0 });
        for (const [k, v] of values) shapes.set(k, Array.isArray(v) ? [v.length] : [...v.shape]);
      });
      return shapes;
    };
    const [sizeA, sizeB] = [a.label.length, b.label.length];
    const sa = run(a), sb = run(b);
    a.image.dispose();
    b.image.dispose();
    const out = new Map<string, DisplayShape>();
    for (const [k, shape] of sa) {
      const other = sb.get(k)!;
      out.set(k, shape.map((d, i) => batchAxisText(d, other[i]!, sizeA, sizeB)));
    }
    return Promise.resolve(out);
  }

  /** Releases every module. */
  dispose(): void {
    for (const m of this.modules.values()) m.dispose();
  }
}
