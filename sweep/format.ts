/**
 * What a sweep prints: one line per member (position, id, state, minutes,
 * table metrics) and the `--dry-run` member table (position, id, overrides).
 *
 * @module
 */
import type { Metrics } from "../core/components.ts";
import type { Shard } from "./expand.ts";
import type { MemberStatus, SweepMember, SweepMetric } from "./types.ts";

/** The members and metrics a line needs to be aligned with its neighbours. */
export interface LineContext {
  /** All members of the sweep (for widths and the total). */
  members: readonly SweepMember[];
  /** The sweep's table columns. */
  spec: { metrics: readonly SweepMetric[] };
}

/** The value of metric `key` (`<evaluator>.<metric>`) in evaluation results, if present. */
export function metricValue(
  results: Record<string, Metrics> | undefined,
  key: string,
): number | undefined {
  const dot = key.indexOf(".");
  return results?.[key.slice(0, dot)]?.[key.slice(dot + 1)];
}

function position(member: SweepMember, total: number): string {
  return `[${String(member.index + 1).padStart(String(total).length)}/${total}]`;
}

function stateText(status: MemberStatus, action: "ran" | "resumed" | "skipped"): string {
  if (status.state === "running") return `stopped at step ${status.steps ?? 0} (rerun to resume)`;
  const earlier = action === "skipped" ? " (earlier)" : action === "resumed" ? " (resumed)" : "";
  return `${status.state}${earlier}`;
}

/** One line per member: `[ 3/27] clip-s2  done  1.8 min  zero-shot top-1 0.9120`. */
export function formatMemberLine(
  member: SweepMember,
  context: LineContext,
  status: MemberStatus,
  action: "ran" | "resumed" | "skipped",
): string {
  const width = Math.max(...context.members.map((m) => m.id.length));
  const parts = [
    position(member, context.members.length),
    member.id.padEnd(width),
    stateText(status, action).padEnd(15),
  ];
  if (status.wall_s !== undefined) parts.push(`${(status.wall_s / 60).toFixed(1)} min`);
  if (status.state === "done") {
    for (const m of context.spec.metrics) {
      const v = metricValue(status.eval, m.key);
      parts.push(`${m.label} ${v === undefined ? "–" : Number.isInteger(v) ? v : v.toFixed(4)}`);
    }
  }
  if (status.state === "failed") {
    const first = (status.error ?? "").split("\n")[0]!;
    parts.push(first.length > 160 ? `${first.slice(0, 157)}...` : first);
  }
  return parts.join("  ");
}

/** The `--dry-run` table: one line per member with its overrides; `*` marks this shard's. */
export function formatMemberTable(members: readonly SweepMember[], shard?: Shard): string {
  const width = Math.max(...members.map((m) => m.id.length));
  const mark = (m: SweepMember) =>
    shard === undefined ? "" : m.index % shard.count === shard.index ? "* " : "  ";
  return members.map((m) =>
    `${mark(m)}${position(m, members.length)} ${m.id.padEnd(width)}  ${m.sets.join(" ")}`
  ).join("\n");
}
