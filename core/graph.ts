/**
 * The graph compiler: resolves references, rejects missing nodes and cycles,
 * builds every module by dry-running a tiny batch (so shape errors surface
 * before training, naming both shapes), and yields the training graph and the
 * inference graph (train-only nodes dropped).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { LossFactory, LossTerm, ModuleFactory } from "./components.ts";
import type { Registry } from "./registry.ts";
import {
  BATCH_FIELDS,
  GraphError,
  type GraphSpec,
  lossReferences,
  type LossSpec,
  type NodeSpec,
  referencedNode,
} from "./graph_spec.ts";
import { CompiledGraph, type GraphValues } from "./graph_run.ts";
export { CompiledGraph } from "./graph_run.ts";
import { deriveSeed } from "./rng.ts";
import { applyNodeInits } from "./node_init.ts";
import {
  buildTeacher,
  checkTeacherInputs,
  checkTeacherSpecs,
  describeKind,
  startTeachers,
  teacherSource,
} from "./graph_teachers.ts";
import { checkTrainingKeys } from "./training_keys.ts";
import type { Batch, Module, NodeValue, Shape } from "./types.ts";
import type { Tensor } from "./tensor.ts";

/** What the compiler needs besides the spec. */
export interface CompileOptions {
  /** Module and loss registries. */
  registries: { modules: Registry<ModuleFactory>; losses: Registry<LossFactory> };
  /** Recipe seed (initialisation seeds derive from it and the node name). */
  seed: number;
  /** Cache directory handed to modules. */
  cacheDir: string;
  /** Returns a real batch of `size` samples for the dry run. */
  sampleBatch: (size: number) => Promise<Batch>;
  /**
   * Load the nodes' `init_from` checkpoints (default true; false when a checkpoint
   * of this very graph is loaded next: `--resume`, `deno task eval`).
   */
  loadInit?: boolean;
}

function fail(spec: GraphSpec, keyPath: string, detail: string): never {
  throw new GraphError(keyPath, detail, spec.locate?.(keyPath));
}

function checkReferences(spec: GraphSpec): void {
  const names = new Set(spec.nodes.map((n) => n.name));
  const choices = () =>
    [...BATCH_FIELDS.map((f) => `batch.${f}`), ...spec.nodes.map((n) => n.name)].join(", ");
  const check = (ref: string, keyPath: string) => {
    if (ref.startsWith("batch.")) {
      if (!BATCH_FIELDS.includes(ref.slice(6))) {
        fail(spec, keyPath, `unknown batch field "${ref}"; expected one of: ${choices()}`);
      }
    } else if (!names.has(ref)) {
      fail(spec, keyPath, `reference to missing node "${ref}"; expected one of: ${choices()}`);
    }
  };
  for (const node of spec.nodes) {
    node.inputs.forEach((ref) => check(ref, `nodes.${node.name}.input`));
  }
  spec.losses.forEach((loss, i) => {
    for (const ref of lossReferences(loss)) check(ref, `losses[${i}].inputs`);
  });
}

/** Topological order of the nodes; a cycle is an error naming its path. */
export function topologicalOrder(spec: GraphSpec): NodeSpec[] {
  const byName = new Map(spec.nodes.map((n) => [n.name, n]));
  const state = new Map<string, "visiting" | "done">();
  const order: NodeSpec[] = [];
  const visit = (node: NodeSpec, path: string[]): void => {
    if (state.get(node.name) === "done") return;
    if (state.get(node.name) === "visiting") {
      const cycle = [...path.slice(path.indexOf(node.name)), node.name].join(" → ");
      fail(spec, `nodes.${node.name}.input`, `cycle in the graph: ${cycle}`);
    }
    state.set(node.name, "visiting");
    // A teacher is built after the node it copies.
    for (const ref of [...node.inputs, teacherSource(node) ?? "batch."]) {
      const dep = referencedNode(ref);
      if (dep) visit(byName.get(dep)!, [...path, node.name]);
    }
    state.set(node.name, "done");
    order.push(node);
  };
  for (const node of spec.nodes) visit(node, []);
  return order;
}

/** Nodes that (transitively) depend on a train-only node are train-only too. */
function checkPhases(spec: GraphSpec, order: NodeSpec[]): void {
  const trainOnly = new Set<string>();
  for (const node of order) {
    const badDep = node.inputs.map(referencedNode).find((d) => d && trainOnly.has(d));
    if (node.phase === "train") trainOnly.add(node.name);
    else if (badDep) {
      fail(
        spec,
        `nodes.${node.name}.phase`,
        `node "${node.name}" is kept at inference but reads train-only node "${badDep}"; ` +
          `mark it "phase: train" too, or read a node that exists at inference`,
      );
    }
  }
}

/** Batch-field values of a batch, as graph values. */
export function batchValues(batch: Batch): GraphValues {
  return new Map<string, NodeValue>([
    ["batch.image", batch.image],
    ["batch.caption", batch.caption],
    ["batch.label", tf.tensor1d(batch.label, "int32")],
  ]);
}

/** The shape of a graph value (`[n]` for a list of n strings). */
export function shapeOf(value: NodeValue): Shape {
  return Array.isArray(value) ? [value.length] : [...value.shape];
}

function formatShapes(shapes: Shape[]): string {
  return shapes.map((s) => `[${s.join(", ")}]`).join(" and ");
}

async function buildNodes(
  spec: GraphSpec,
  order: NodeSpec[],
  options: CompileOptions,
  values: GraphValues,
): Promise<Map<string, Module>> {
  const modules = new Map<string, Module>();
  for (const node of order) {
    const inputs = node.inputs.map((r) => values.get(r)!);
    const inputShapes = inputs.map((v) => Array.isArray(v) ? [] : [...v.shape]);
    const entry = options.registries.modules.get(node.kind);
    const seed = deriveSeed(options.seed, "init", node.name);
    try {
      const ctx = { name: node.name, inputShapes, seed, cacheDir: options.cacheDir };
      const module = teacherSource(node) === undefined
        ? await entry.create(node.params, ctx)
        : await buildTeacher(node, spec, options.registries.modules, ctx);
      modules.set(node.name, module);
      const dry = { training: true, step: 0, seed: deriveSeed(options.seed, "dry", node.name) };
      values.set(node.name, tf.tidy(() => module.forward(inputs, dry) as Tensor));
    } catch (e) {
      for (const m of modules.values()) m.dispose();
      if (e instanceof GraphError) throw e;
      fail(
        spec,
        `nodes.${node.name}`,
        `${describeKind(node, spec)} failed on inputs of shape ${formatShapes(inputShapes)}: ${
          (e as Error).message
        }`,
      );
    }
  }
  return modules;
}

function buildLosses(spec: GraphSpec, options: CompileOptions): LossTerm[] {
  return spec.losses.map((loss, i) => {
    const term = options.registries.losses.get(loss.kind).create(loss.params);
    const required = term.roles.filter((r) => !r.endsWith("?")).map((r) => r.replace("[]", ""));
    const known = term.roles.map((r) => r.replace(/\[\]|\?/g, ""));
    for (const role of required) {
      if (!(role in loss.inputs)) {
        fail(
          spec,
          `losses[${i}].inputs`,
          `missing input role "${role}" for ${loss.kind}; ` +
            `roles: ${known.join(", ")}`,
        );
      }
    }
    for (const role of Object.keys(loss.inputs)) {
      if (!known.includes(role)) {
        fail(
          spec,
          `losses[${i}].inputs.${role}`,
          `unknown input role "${role}" for ${loss.kind}; ` +
            `roles: ${known.join(", ")}`,
        );
      }
    }
    return term;
  });
}

/** Resolves a loss's inputs from computed values. */
export function lossInputs(
  loss: LossSpec,
  values: GraphValues,
): Record<string, NodeValue | NodeValue[]> {
  const out: Record<string, NodeValue | NodeValue[]> = {};
  for (const [role, ref] of Object.entries(loss.inputs)) {
    out[role] = Array.isArray(ref) ? ref.map((r) => values.get(r)!) : values.get(ref)!;
  }
  return out;
}

function dryRunLosses(spec: GraphSpec, terms: LossTerm[], values: GraphValues): void {
  spec.losses.forEach((loss, i) => {
    const inputs = lossInputs(loss, values);
    const shapes = Object.entries(inputs).map(([role, v]) =>
      `${role} ${
        Array.isArray(v) && !v.every((s) => typeof s === "string")
          ? (v as NodeValue[]).map((x) => `[${shapeOf(x).join(", ")}]`).join(" + ")
          : `[${shapeOf(v as NodeValue).join(", ")}]`
      }`
    ).join(", ");
    try {
      const value = tf.tidy(() => terms[i]!.fn(inputs, { training: true, step: 0, seed: 1 }));
      const rank = value.rank;
      value.dispose();
      if (rank !== 0) throw new Error(`returned a tensor of rank ${rank}, expected a scalar`);
    } catch (e) {
      fail(
        spec,
        `losses[${i}]`,
        `${loss.kind} failed on inputs ${shapes}: ${(e as Error).message}`,
      );
    }
  });
}

/**
 * Compiles `spec`: checks references, phases and cycles, builds the modules on
 * a dry-run batch, checks every loss on it, and records each node's output
 * shape (batch axes found by a second dry run at another batch size).
 */
export async function compileGraph(
  spec: GraphSpec,
  options: CompileOptions,
): Promise<CompiledGraph> {
  checkReferences(spec);
  checkTeacherSpecs(spec);
  const order = topologicalOrder(spec);
  checkPhases(spec, order);
  const terms = buildLosses(spec, options);
  const small = await options.sampleBatch(2);
  const values = batchValues(small);
  let modules: Map<string, Module>;
  try {
    modules = await buildNodes(spec, order, options, values);
    try {
      checkTeacherInputs(spec, order, modules);
      dryRunLosses(spec, terms, values);
    } catch (e) {
      for (const m of modules.values()) m.dispose();
      throw e;
    }
  } finally {
    disposeValues(values, small);
  }
  const graph = new CompiledGraph(spec, order, modules, terms);
  try {
    graph.shapes = await graph.measureShapes(
      await options.sampleBatch(2),
      await options.sampleBatch(3),
    );
    for (const m of modules.values()) m.dropBatchStatistics?.();
    // After every dry run: batch statistics they update must not overwrite the loaded ones.
    if (options.loadInit ?? true) await applyNodeInits(spec, modules);
    else checkTrainingKeys(spec, modules);
    startTeachers(spec, order, modules);
  } catch (e) {
    graph.dispose();
    throw e;
  }
  return graph;
}

/** Disposes every tensor in `values` (including the batch's image). */
export function disposeValues(values: GraphValues, batch?: Batch): void {
  // Node outputs may be variables themselves (e.g. a logit scale): those belong to their module.
  for (const v of values.values()) {
    if (!Array.isArray(v) && !(v instanceof tf.Variable)) v.dispose();
  }
  batch?.image.dispose();
}
