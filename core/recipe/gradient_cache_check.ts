/**
 * `train.gradient_cache` checked before any compute (`core/step_gradients.ts`
 * runs it): it needs several micro-batches to join (`train.accumulate` > 1),
 * and no loss may read a `queue` or `group_queue` node, whose rows are the
 * queue's as well as the micro-batch's.
 *
 * @module
 */
import { asRecord, type CheckContext } from "./components.ts";
import { formatKeyPath, type PathSegment } from "./tree.ts";

/** Node kinds whose outputs hold more rows than the micro-batch. */
const QUEUE_KINDS = ["queue", "group_queue"];

/** Reports what keeps `train.gradient_cache: true` from working in `raw`. */
export function checkGradientCache(raw: Record<string, unknown>, ctx: CheckContext): void {
  const train = asRecord(raw.train);
  if (train?.gradient_cache !== true) return;
  const issue = (path: PathSegment[], message: string, expected: string) =>
    ctx.issues.push({
      location: ctx.locate(path),
      keyPath: formatKeyPath(path),
      message,
      expected,
    });
  const accumulate = train.accumulate ?? 1;
  if (accumulate === 1) {
    issue(
      ["train", "gradient_cache"],
      "gradient_cache joins the micro-batches of a step, but train.accumulate is 1 (one " +
        "micro-batch: the losses already see the whole batch)",
      "train.accumulate > 1 (e.g. 4), or no gradient_cache",
    );
  }
  const nodes = asRecord(raw.nodes) ?? {};
  const losses = Array.isArray(raw.losses) ? raw.losses : [];
  losses.forEach((entry, i) => {
    for (const [role, value] of Object.entries(asRecord(asRecord(entry)?.inputs) ?? {})) {
      const refs = Array.isArray(value) ? value : [value];
      refs.forEach((ref, j) => {
        const kind = typeof ref === "string" ? asRecord(nodes[ref])?.kind : undefined;
        if (typeof kind !== "string" || !QUEUE_KINDS.includes(kind)) return;
        issue(
          ["losses", i, "inputs", role, ...(Array.isArray(value) ? [j] : [])],
          `the loss reads ${JSON.stringify(ref)}, a ${kind} node: its rows are the queue's ` +
            "and the micro-batch's, so they cannot be joined across micro-batches",
          "no gradient_cache with queues (the queue already supplies negatives beyond the batch)",
        );
      });
    }
  });
}
