/**
 * Momentum teachers' references (`kind: ema` nodes, `core/momentum_teacher.ts`),
 * checked before any compute: `of` names another node that is neither a teacher
 * nor frozen for the whole run, the teacher takes as many inputs as its
 * source's kind does, and it carries none of the keys that train a node
 * (`init_from`, `freeze`, `lr_scale`, `layer_decay`): it trains nothing and
 * starts as a copy of its source. Whether its inputs carry gradients needs the
 * built modules; the compiler checks that (`core/graph_teachers.ts`).
 *
 * @module
 */
import { asRecord, checkArity, type CheckContext, type Registries } from "./components.ts";
import { suggestion } from "./errors.ts";
import { formatKeyPath, type PathSegment } from "./tree.ts";
import { TEACHER_KIND } from "../momentum_teacher.ts";

/** Keys that train a node or set its starting weights: none fits a teacher. */
const TRAINING_KEYS = ["init_from", "freeze", "lr_scale", "layer_decay"] as const;

/** Reports every teacher whose `of`, inputs or keys cannot work (see the module notes). */
export function checkTeacherRefs(
  raw: Record<string, unknown>,
  registries: Registries,
  ctx: CheckContext,
): void {
  const nodes = asRecord(raw.nodes) ?? {};
  const issue = (path: PathSegment[], message: string, expected: string, choices?: string[]) =>
    ctx.issues.push({
      location: ctx.locate(path),
      keyPath: formatKeyPath(path),
      message,
      expected,
      ...(choices && { choices }),
    });
  for (const [name, entry] of Object.entries(nodes)) {
    const node = asRecord(entry);
    if (node?.kind !== TEACHER_KIND) continue;
    for (const key of TRAINING_KEYS) {
      if (node[key] === undefined || node[key] === null || node[key] === false) continue;
      issue(
        ["nodes", name, key],
        `an ema node trains nothing and starts as a copy of its "of" node, so ${key} does ` +
          "not apply",
        `no ${key} here (put it on the node the teacher follows)`,
      );
    }
    const of = node.of;
    if (typeof of !== "string") continue; // the schema reports it
    const sources = Object.keys(nodes).filter((n) =>
      n !== name && asRecord(nodes[n])?.kind !== TEACHER_KIND
    );
    const at: PathSegment[] = ["nodes", name, "of"];
    const source = asRecord(nodes[of]);
    if (of === name || !source || source.kind === TEACHER_KIND) {
      const why = of === name
        ? "a teacher cannot follow itself"
        : !source
        ? `unknown node ${JSON.stringify(of)}${suggestion(of, sources)}`
        : `${JSON.stringify(of)} is itself an ema node (follow the node it follows: ` +
          `${JSON.stringify(source.of)})`;
      issue(at, why, "a node with trained parameters, one of", sources);
      continue;
    }
    const loop = readerPath(of, name, nodes);
    if (loop) {
      issue(
        at,
        `${JSON.stringify(of)} reads this teacher (${loop.join(" → ")}), but a teacher is ` +
          "built from its source, so the source cannot depend on it",
        "a node that does not read the teacher, one of",
        sources.filter((n) => !readerPath(n, name, nodes)),
      );
      continue;
    }
    if (source.freeze === true) {
      issue(
        at,
        `${JSON.stringify(of)} is frozen (freeze: true), so its teacher would never move`,
        `a trained node (or read ${JSON.stringify(of)} itself)`,
      );
    }
    if (typeof source.kind !== "string" || !registries.modules.has(source.kind)) continue;
    checkArity(node.input, {
      path: ["nodes", name],
      kind: source.kind,
      registries,
      ctx,
      label: `a teacher of ${JSON.stringify(of)} (${source.kind})`,
    });
  }
}

/** The path by which node `from` reads node `target` through `input:` references, if it does. */
function readerPath(
  from: string,
  target: string,
  nodes: Record<string, unknown>,
): string[] | undefined {
  const seen = new Set<string>();
  const visit = (name: string): string[] | undefined => {
    if (name === target) return [name];
    if (seen.has(name)) return undefined;
    seen.add(name);
    const input = asRecord(nodes[name])?.input;
    for (const ref of Array.isArray(input) ? input : [input]) {
      if (typeof ref !== "string" || !(ref in nodes)) continue;
      const path = visit(ref);
      if (path) return [name, ...path];
    }
    return undefined;
  };
  return visit(from);
}
