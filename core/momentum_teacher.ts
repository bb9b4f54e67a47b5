/**
 * Momentum teachers: `kind: ema` nodes. An `ema` node is a copy of another
 * node (`of:`) — same module kind, same parameters — whose weights are not
 * trained but follow the source's as an exponential moving average, `t ← t +
 * (s − t)(1 − m)` after every applied optimiser step: MoCo's key encoder
 * (m = 0.999), BYOL's target network and DINO's teacher (m = 0.996 → 1 on a
 * cosine), ALBEF's momentum model (0.995). It runs its own inputs through its
 * own weights, so a recipe composes teachers as any other node: an image
 * tower's teacher reading other views, a projector's teacher reading the
 * teacher tower.
 *
 * The teacher starts as an exact copy of its source after the source's
 * `init_from`; its weights are non-trainable state (checkpointed as
 * `<teacher>.<parameter>`, kept at inference where the node is, so an
 * evaluator may read the teacher, as DINO evaluates its teacher). In training
 * it normalises with batch statistics as its source does; its batch norms'
 * running statistics, which inference uses, follow the source's with the same
 * momentum (as timm's `ModelEmaV3` averages buffers), whether or not a loss
 * runs the teacher. Its inputs may not carry gradients (checked by the
 * compiler): a teacher is a target.
 *
 * On WebGPU with novalab's kernels the update is the in-place fused kernel of
 * `core/average_update.ts`, inside the recorded step, gated by its report.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { z } from "zod";
import type { ModuleFactory } from "./components.ts";
import type { RegistryEntry } from "./registry.ts";
import { num } from "./schema.ts";
import { hostValue } from "./host_value.ts";
import { type AveragePair, moveAverages } from "./average_update.ts";
import { withFields } from "./forward_context.ts";
import type { ForwardContext, Module, NodeValue, Parameter, UpdateProgress } from "./types.ts";
import type { Tensor } from "./tensor.ts";

/** The module kind of a momentum teacher. */
export const TEACHER_KIND = "ema";

/** A teacher's recipe parameters. */
export interface TeacherOptions {
  /** The node it follows. */
  of: string;
  /** Momentum `m` in [0, 1): the share of the teacher kept at each update. */
  decay: number;
  /**
   * With it, the momentum rises from `decay` to `final` on a half cosine over
   * the run (BYOL, DINO): `final − (final − decay)·(1 + cos(π k / K))/2` at
   * update `k + 1` of `K = train.steps`.
   */
  final?: number;
}

/** The momentum of update `n` (1 for the first) of a run of `total` steps. */
export function teacherDecay(n: number, total: number, options: TeacherOptions): number {
  const { decay, final } = options;
  if (final === undefined) return decay;
  const k = Math.min(Math.max(n - 1, 0), total);
  return final - (final - decay) * (1 + Math.cos(Math.PI * k / total)) / 2;
}

const momentum = (max: string) =>
  num().pipe(z.number().min(0, `expected a number in [0, ${max}`)) as unknown as z.ZodType<
    number
  >;

const teacherSchema = z.strictObject({
  of: z.string().min(1).describe(
    "The node the teacher copies and follows (a node with trained parameters).",
  ),
  decay: momentum("1)").pipe(z.number().lt(1, "expected a number in [0, 1)")).describe(
    "Momentum m: after every applied update `t ← m·t + (1 − m)·s` (MoCo 0.999, BYOL/DINO " +
      "0.996, ALBEF 0.995).",
  ),
  final: momentum("1]").pipe(z.number().max(1, "expected a number in [0, 1]")).optional()
    .describe(
      "Momentum at the end of the run: m rises from `decay` to `final` on a half cosine " +
        "over train.steps (BYOL, DINO: 1), counted from the run's first update.",
    ),
}).refine((t) => t.final === undefined || t.final >= t.decay, {
  message: "expected final ≥ decay: the momentum rises over the run",
  path: ["final"],
});

/**
 * The registry entry of `kind: ema` (schema and documentation). The graph
 * compiler builds these nodes itself, from their source's kind and
 * parameters (`core/graph.ts`); the factory refuses to.
 */
export const teacherEntry: RegistryEntry<ModuleFactory> = {
  kind: TEACHER_KIND,
  summary: "Momentum teacher: a copy of node `of` whose weights follow that node's as an " +
    "exponential moving average (MoCo, BYOL, DINO, ALBEF); no gradients reach it or its inputs.",
  input: "what its `of` node takes (the same count and shapes, e.g. other views)",
  schema: teacherSchema,
  create: () => {
    throw new Error("ema nodes are built by the graph compiler from their `of` node");
  },
};

/** A teacher: the source's kind built again, not trained, following the source's weights. */
export class MomentumTeacher implements Module {
  /** Nothing is trained. */
  readonly parameters: Parameter[] = [];
  /** The copy's weights and buffers: non-trainable, checkpointed, used at inference. */
  readonly buffers: Parameter[];
  #pairs: AveragePair[] = [];

  /**
   * Wraps a copy of the source; {@linkcode MomentumTeacher.follow} then pairs it with the source.
   *
   * @param copy A module built from the source's kind and parameters, named after the teacher.
   * @param options The source and the momentum.
   */
  constructor(readonly copy: Module, readonly options: TeacherOptions) {
    this.buffers = [...copy.parameters, ...(copy.buffers ?? [])];
  }

  /**
   * Pairs every weight and buffer of the copy with the source's (`<teacher>.x`
   * with `<of>.x`: same names, same shapes) and copies them in. Call once the
   * source holds its starting weights.
   *
   * @throws When the two do not correspond (the teacher's inputs give its
   *   module other shapes).
   */
  follow(source: Module, teacherName: string): void {
    const strip = (prefix: string, p: Parameter) =>
      p.name.startsWith(`${prefix}.`) ? p.name.slice(prefix.length + 1) : p.name;
    const sourceState = new Map(
      [...source.parameters, ...(source.buffers ?? [])].map((p) => [strip(this.options.of, p), p]),
    );
    const own = this.buffers.map((p) => ({ p, key: strip(teacherName, p) }));
    const missing = own.filter(({ key }) => !sourceState.has(key)).map(({ key }) => key);
    if (missing.length > 0 || own.length !== sourceState.size) {
      throw new Error(
        `its weights do not match "${this.options.of}"'s (${own.length} against ` +
          `${sourceState.size}${missing.length ? `; not in the source: ${missing[0]}` : ""})`,
      );
    }
    for (const { p, key } of own) {
      const s = sourceState.get(key)!;
      if (!tf.util.arraysEqual(p.variable.shape, s.variable.shape)) {
        throw new Error(
          `${key} has shape [${p.variable.shape}] in the teacher, [${s.variable.shape}] in ` +
            `"${this.options.of}": give the teacher inputs of the shapes its source reads`,
        );
      }
    }
    for (const { p, key } of own) {
      tf.tidy(() => p.variable.assign(tf.mul(sourceState.get(key)!.variable, tf.scalar(1))));
    }
    this.#pairs = own.map(({ p, key }) => ({
      average: p.variable,
      source: sourceState.get(key)!.variable,
    }));
  }

  /**
   * The copy's forward pass on the teacher's own inputs, its batch norms
   * keeping no statistics (their running ones follow the source's) and with
   * no patch dropout or stochastic depth (`ForwardContext.teacher`).
   */
  forward(inputs: NodeValue[], ctx: ForwardContext): NodeValue {
    return this.copy.forward(inputs, withFields(ctx, { statistics: false, teacher: true }));
  }

  /**
   * Every weight and buffer moves towards the source's with the momentum of
   * this update. The copy's own hook does not run: the batch statistics it
   * would fold in are the source's to keep (and a clamp's bounds hold for an
   * average of clamped values).
   */
  afterStep(guard?: Tensor, progress?: UpdateProgress): void {
    if (this.#pairs.length === 0) return;
    if (this.options.final !== undefined && !progress) {
      throw new Error("MomentumTeacher.afterStep: a momentum schedule needs the update count");
    }
    const factor = hostValue(() =>
      Float32Array.of(
        1 - teacherDecay(progress?.updates() ?? 1, progress?.total ?? 1, this.options),
      )
    );
    try {
      moveAverages(this.#pairs, factor, guard);
    } finally {
      factor.dispose();
    }
  }

  /** Releases the copy. */
  dispose(): void {
    this.#pairs = [];
    this.copy.dispose();
  }
}
