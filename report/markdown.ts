/**
 * The sweep table as Markdown: one row per variant, `mean ± std` and the 95 %
 * bootstrap CI per metric with the best mean in bold, then notes that list
 * every member left out of the means and why.
 *
 * @module
 */
import type { MemberResult } from "./collect.ts";
import {
  formatCI,
  formatFactor,
  formatMeanStd,
  formatQuantity,
  isPercentMetric,
  MISSING,
} from "./format.ts";
import { finishedValues, type SweepTable } from "./table.ts";

/** Escapes a table cell (pipes, newlines). */
function cell(text: string): string {
  return text.replace(/\|/g, "\\|").replace(/\r?\n/g, " ");
}

/** Percent flag per metric column (from every value of the column). */
export function percentColumns(table: SweepTable): boolean[] {
  return table.metrics.map((metric, k) =>
    isPercentMetric(metric, table.rows.flatMap((r) => r.cells[k]?.summary.values ?? []))
  );
}

/** The first line of an error, at most 200 characters. */
function firstLine(text: string): string {
  const line = text.split("\n", 1)[0]!.trim();
  return line.length > 200 ? `${line.slice(0, 199)}…` : line;
}

/** Why a member is not in the means. */
function absence(m: MemberResult): string {
  switch (m.state) {
    case "failed":
      return `failed: ${firstLine(m.error ?? "(no error message)")}`;
    case "running":
      return "unfinished: status.json says running (still going, or killed)";
    case "not run":
      return "not run: no status.json";
    case "unreadable":
      return `unreadable status.json: ${firstLine(m.error ?? "")}`;
    default:
      return m.state;
  }
}

/**
 * Notes under the table: the legend, members left out of the means, and
 * finished members that lack a metric.
 */
export function tableNotes(table: SweepTable): string[] {
  const percent = percentColumns(table);
  const { resamples, seed, level } = table.bootstrap;
  const notes = [
    `Mean ± sample std (n − 1) over the seeds that finished; ${100 * level}% CI: percentile ` +
    `bootstrap of the mean over seeds (${resamples} resamples, seed ${seed}). **Bold**: best mean of its column ` +
    `(↑ higher is better, ↓ lower; ties all bold). ${MISSING}: no value (std and CI need two seeds).` +
    (percent.some(Boolean) ? " Columns marked (%) are percentages." : ""),
  ];
  const left = table.rows.flatMap((r) => r.members.filter((m) => m.state !== "done"));
  if (left.length) {
    notes.push("", "Not in the means:", "");
    for (const m of left) notes.push(`- \`${m.member.id}\`: ${absence(m)}`);
  }
  const finished = table.rows.flatMap((r) => r.members.filter((m) => m.state === "done"));
  const missing = table.metrics.flatMap((metric) => {
    const lacking = finished.filter((m) => !finishedValues([m], metric.key).length);
    if (!lacking.length) return [];
    const ids = lacking.map((m) => `\`${m.member.id}\``).join(", ");
    return [`- \`${metric.key}\` (${lacking.length} of ${finished.length}): ${ids}`];
  });
  if (missing.length) {
    notes.push("", "Finished members that did not report a metric:", "", ...missing);
  }
  return notes;
}

/**
 * The table as Markdown, with its notes.
 *
 * @param table What `buildTable` made.
 */
export function tableMarkdown(table: SweepTable): string {
  const percent = percentColumns(table);
  const ciHeader = `${100 * table.bootstrap.level}% CI`;
  const header = ["variant", ...table.factors];
  if (table.toggles) header.push("toggle");
  table.metrics.forEach((metric, k) => {
    const arrow = metric.better === "lower" ? "↓" : "↑";
    header.push(`${metric.label}${percent[k] ? " (%)" : ""} ${arrow}`, ciHeader);
  });
  header.push("min/member", "images/s", "seeds");
  const text = new Set([0, header.length - 1, table.toggles ? table.factors.length + 1 : -1]);
  const align = header.map((_, i) => (text.has(i) ? ":--" : "--:"));
  const lines = [header, align].map((r) => `| ${r.map(cell).join(" | ")} |`);
  for (const row of table.rows) {
    const cells = [row.variant, ...table.factors.map((f) => formatFactor(row.grid[f]))];
    if (table.toggles) cells.push(row.toggle ?? "baseline");
    row.cells.forEach((c, k) => {
      if (!c) {
        cells.push(MISSING, MISSING);
        return;
      }
      let text = formatMeanStd(c.summary, percent[k]!);
      if (c.summary.n < row.counts.done) text += ` (n=${c.summary.n})`;
      cells.push(c.best ? `**${text}**` : text, formatCI(c.summary, percent[k]!));
    });
    cells.push(formatQuantity(row.minutes), formatQuantity(row.imagesPerSecond), row.status);
    lines.push(`| ${cells.map(cell).join(" | ")} |`);
  }
  return [`### ${table.name}`, "", ...lines, "", ...tableNotes(table), ""].join("\n");
}
