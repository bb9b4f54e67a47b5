/**
 * Evaluators' node references, checked before any compute: an evaluator runs
 * the inference graph on one batch field (images for `image:`, captions for
 * `text:`), so the node it names must exist, be kept at inference, and read
 * only that field — otherwise the run would train to the end and fail in
 * evaluation. Which parameters name nodes comes from each evaluator's
 * registry entry (`nodeRefs`).
 *
 * @module
 */
import type { CheckContext, Registries } from "./components.ts";
import { asRecord } from "./components.ts";
import { suggestion } from "./errors.ts";
import type { PathSegment } from "./tree.ts";
import { formatKeyPath } from "./tree.ts";

type Params = Record<string, unknown>;

const FIELD = { image: "batch.image", text: "batch.caption" } as const;

interface NodeFacts {
  inputs: string[];
  trainOnly: boolean;
}

function nodeFacts(raw: Params): Map<string, NodeFacts> {
  const out = new Map<string, NodeFacts>();
  for (const [name, entry] of Object.entries(asRecord(raw.nodes) ?? {})) {
    const node = asRecord(entry) ?? {};
    const input = node.input;
    const inputs = (Array.isArray(input) ? input : input === undefined ? [] : [input])
      .filter((r): r is string => typeof r === "string");
    out.set(name, { inputs, trainOnly: node.phase === "train" });
  }
  return out;
}

/** Batch fields `name` reads and the first train-only node on its path (cycles cut). */
function ancestry(
  name: string,
  nodes: Map<string, NodeFacts>,
): { fields: Set<string>; trainOnly?: string } {
  const fields = new Set<string>();
  let trainOnly: string | undefined;
  const seen = new Set<string>();
  const visit = (ref: string): void => {
    if (ref.startsWith("batch.")) return void fields.add(ref);
    if (seen.has(ref)) return;
    seen.add(ref);
    const node = nodes.get(ref);
    if (!node) return;
    if (node.trainOnly) trainOnly ??= ref;
    node.inputs.forEach(visit);
  };
  visit(name);
  return { fields, trainOnly };
}

/**
 * Reports, for every `eval:` entry, each node-naming parameter that names no
 * node, a train-only node (or one computed from one), or a node that reads a
 * batch field the evaluator does not feed it.
 */
export function checkEvalRefs(raw: Params, registries: Registries, ctx: CheckContext): void {
  const nodes = nodeFacts(raw);
  const names = [...nodes.keys()];
  const entries = Array.isArray(raw.eval) ? raw.eval : [];
  entries.forEach((entry, i) => {
    const e = asRecord(entry);
    const kind = e?.kind;
    if (typeof kind !== "string" || !registries.evaluators.has(kind)) return;
    const refs = registries.evaluators.get(kind).nodeRefs ?? {};
    for (const [param, side] of Object.entries(refs)) {
      const ref = e![param];
      if (typeof ref !== "string") continue;
      const path: PathSegment[] = ["eval", i, param];
      const issue = (message: string, expected: string, choices?: string[]) =>
        ctx.issues.push({
          location: ctx.locate(path),
          keyPath: formatKeyPath(path),
          message,
          expected,
          choices,
        });
      if (!nodes.has(ref)) {
        issue(
          `unknown node ${JSON.stringify(ref)}${suggestion(ref, names)}`,
          "a node defined under nodes:, one of",
          names,
        );
        continue;
      }
      const { fields, trainOnly } = ancestry(ref, nodes);
      if (trainOnly) {
        issue(
          `node ${JSON.stringify(ref)} is ${
            trainOnly === ref ? "train-only" : `computed from train-only node "${trainOnly}"`
          } (phase: train), but evaluators run the inference graph`,
          `a node kept at inference (no phase: train on it or its inputs)`,
        );
        continue;
      }
      const wanted = FIELD[side];
      const foreign = [...fields].filter((f) => f !== wanted);
      if (foreign.length > 0 || !fields.has(wanted)) {
        issue(
          `node ${JSON.stringify(ref)} reads ${
            fields.size ? [...fields].join(" and ") : "no batch field"
          }, but ${kind} feeds its ${param} node ${wanted} alone`,
          `a node computed from ${wanted} only (the ${side} side of the graph)`,
        );
      }
    }
  });
}
