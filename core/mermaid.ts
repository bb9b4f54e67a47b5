/**
 * Renders a compiled graph as a Mermaid flowchart with tensor shapes
 * (`deno task graph <recipe>`). Train-only nodes are drawn dashed; a
 * momentum teacher has a dotted `ema` edge from the node it follows.
 *
 * @module
 */
import type { CompiledGraph, DisplayShape } from "./graph_run.ts";
import { type NodeSpec, referencedNode } from "./graph_spec.ts";
import { teacherSource } from "./graph_teachers.ts";
import type { TeacherOptions } from "./momentum_teacher.ts";

function id(ref: string): string {
  return ref.startsWith("batch.") ? `batch_${ref.slice(6)}` : `n_${ref.replace(/\W/g, "_")}`;
}

function shapeText(shape: DisplayShape | undefined): string {
  return shape ? `[${shape.join(", ")}]` : "";
}

function quote(text: string): string {
  return `"${text.replaceAll('"', "#quot;")}"`;
}

/** The Mermaid `flowchart` of the training graph, one node per line. */
export function renderMermaid(graph: CompiledGraph): string {
  const lines = ["flowchart TD"];
  const usedBatch = new Set<string>();
  for (const node of graph.order) {
    for (const ref of node.inputs) if (!referencedNode(ref)) usedBatch.add(ref);
  }
  for (const loss of graph.spec.losses) {
    for (const ref of Object.values(loss.inputs).flat()) {
      if (!referencedNode(ref)) usedBatch.add(ref);
    }
  }
  for (const ref of [...usedBatch].sort()) {
    const shape = ref === "batch.caption" ? "B strings" : shapeText(graph.shapes.get(ref));
    lines.push(`  ${id(ref)}[/${quote(`${ref}<br/>${shape}`)}/]`);
  }
  for (const node of graph.order) {
    const params = graph.modules.get(node.name)!.parameters
      .reduce((n, p) => n + p.variable.size, 0);
    const teacher = teacherSource(node);
    const label = `${node.name}: ${node.kind}<br/>${shapeText(graph.shapes.get(node.name))}` +
      (teacher === undefined ? "" : `<br/>${momentumNote(node.params as TeacherOptions)}`) +
      (params
        ? `<br/>${params.toLocaleString("en-US")} params${
          node.freeze ? " (frozen)" : rateNote(node)
        }`
        : "") +
      (node.initFrom ? `<br/>from ${node.initFrom.path}` : "");
    lines.push(`  ${id(node.name)}[${quote(label)}]`);
    if (node.phase === "train") lines.push(`  class ${id(node.name)} trainOnly`);
    for (const ref of node.inputs) lines.push(`  ${id(ref)} --> ${id(node.name)}`);
    if (teacher !== undefined) lines.push(`  ${id(teacher)} -. ema .-> ${id(node.name)}`);
  }
  graph.spec.losses.forEach((loss, i) => {
    const lossId = `loss_${i}`;
    lines.push(`  ${lossId}([${quote(`${loss.name}: ${loss.kind}<br/>× ${round(loss.weight)}`)}])`);
    for (const [role, refs] of Object.entries(loss.inputs)) {
      for (const ref of [refs].flat()) lines.push(`  ${id(ref)} -->|${role}| ${lossId}`);
    }
  });
  lines.push("  classDef trainOnly stroke-dasharray: 5 5");
  return lines.join("\n") + "\n";
}

function round(x: number): string {
  return Number(x.toPrecision(6)).toString();
}

/** ` (frozen until step n, lr ×k, layer decay d)` for a node trained otherwise than plainly, else "". */
function rateNote(node: NodeSpec): string {
  const parts = [
    ...(node.frozenUntil !== undefined ? [`frozen until step ${node.frozenUntil}`] : []),
    ...(node.unfreezeWarmup ? [`then warmed up over ${node.unfreezeWarmup}`] : []),
    ...(node.lrScale !== undefined ? [`lr ×${node.lrScale}`] : []),
    ...(node.layerDecay !== undefined ? [`layer decay ${node.layerDecay}`] : []),
  ];
  return parts.length ? ` (${parts.join(", ")})` : "";
}

/** `momentum 0.996 → 1` (or a constant one) of a teacher. */
function momentumNote(options: TeacherOptions): string {
  const end = options.final === undefined ? "" : ` → ${round(options.final)}`;
  return `momentum ${round(options.decay)}${end}, not trained`;
}
