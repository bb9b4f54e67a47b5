/**
 * The compiler's part for momentum teachers (`kind: ema` nodes,
 * `core/momentum_teacher.ts`): their source comes before them in the build
 * order, they are built from their source's kind and parameters, their inputs
 * may not carry gradients, and they start as copies of their source once the
 * source holds its starting weights.
 *
 * @module
 */
import type { ModuleFactory } from "./components.ts";
import type { Registry } from "./registry.ts";
import { GraphError, type GraphSpec, type NodeSpec, referencedNode } from "./graph_spec.ts";
import { MomentumTeacher, TEACHER_KIND, type TeacherOptions } from "./momentum_teacher.ts";
import type { BuildContext, Module } from "./types.ts";

function fail(spec: GraphSpec, keyPath: string, detail: string): never {
  throw new GraphError(keyPath, detail, spec.locate?.(keyPath));
}

/** The node a teacher follows (`of:`), or undefined for any other node. */
export function teacherSource(node: NodeSpec): string | undefined {
  return node.kind === TEACHER_KIND ? (node.params as TeacherOptions).of : undefined;
}

/**
 * Every teacher's `of` names a node (recipes check the rest first:
 * `core/recipe/teacher_refs.ts`; this guards specs built in code).
 */
export function checkTeacherSpecs(spec: GraphSpec): void {
  const names = spec.nodes.map((n) => n.name);
  for (const node of spec.nodes) {
    const of = teacherSource(node);
    if (of === undefined || (of !== node.name && names.includes(of))) continue;
    fail(spec, `nodes.${node.name}.of`, `"${of}" is not another node; expected one of: ${names}`);
  }
}

/** A node's kind for messages: `ema of "image" (vit)` for a teacher. */
export function describeKind(node: NodeSpec, spec: GraphSpec): string {
  const of = teacherSource(node);
  if (of === undefined) return node.kind;
  return `ema of "${of}" (${spec.nodes.find((n) => n.name === of)?.kind})`;
}

/** Builds a teacher: its source's kind and parameters, under the teacher's name. */
export async function buildTeacher(
  node: NodeSpec,
  spec: GraphSpec,
  modules: Registry<ModuleFactory>,
  ctx: BuildContext,
): Promise<Module> {
  const options = node.params as TeacherOptions;
  const source = spec.nodes.find((n) => n.name === options.of)!;
  const copy = await modules.get(source.kind).create(source.params, ctx);
  return new MomentumTeacher(copy, options);
}

/**
 * Refuses a teacher whose inputs depend on trained parameters: gradients
 * would flow through the teacher's weights into them.
 */
export function checkTeacherInputs(
  spec: GraphSpec,
  order: NodeSpec[],
  modules: Map<string, Module>,
): void {
  const byName = new Map(order.map((n) => [n.name, n]));
  for (const node of order) {
    if (teacherSource(node) === undefined) continue;
    const seen = new Set<string>();
    const trained = (name: string): string | undefined => {
      if (seen.has(name)) return undefined;
      seen.add(name);
      const n = byName.get(name)!;
      if (!n.freeze && modules.get(name)!.parameters.length > 0) return name;
      for (const ref of n.inputs) {
        const dep = referencedNode(ref);
        const found = dep && trained(dep);
        if (found) return found;
      }
      return undefined;
    };
    for (const ref of node.inputs) {
      const dep = referencedNode(ref);
      const found = dep && trained(dep);
      if (!found) continue;
      fail(
        spec,
        `nodes.${node.name}.input`,
        `the teacher reads "${ref}", which depends on the trained parameters of "${found}": ` +
          `gradients would flow through the teacher into them. A teacher reads batch fields, ` +
          `parameter-free nodes (views) or frozen nodes and other teachers — give "${found}" ` +
          `a teacher of its own and read that`,
      );
    }
  }
}

/** Starts every teacher as a copy of its source (after the sources' `init_from`). */
export function startTeachers(spec: GraphSpec, order: NodeSpec[], modules: Map<string, Module>) {
  for (const node of order) {
    const of = teacherSource(node);
    if (of === undefined) continue;
    const teacher = modules.get(node.name) as MomentumTeacher;
    const source = modules.get(of)!;
    if (source.parameters.length === 0) {
      fail(spec, `nodes.${node.name}.of`, `"${of}" has no trained parameters to follow`);
    }
    try {
      teacher.follow(source, node.name);
    } catch (e) {
      fail(spec, `nodes.${node.name}`, (e as Error).message);
    }
  }
}
