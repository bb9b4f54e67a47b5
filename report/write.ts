/**
 * `writeSweepReport`: reads a sweep directory and writes its report —
 * `table.md`, `table.csv`, `members.csv`, one SVG per plot and a `README.md`
 * that shows them together — every file written atomically.
 *
 * @module
 */
import { basename, dirname, join } from "node:path";
import { writeFileAtomic } from "../core/atomic.ts";
import { renderSvg } from "../eval/plots.ts";
import { collectSweep, type SweepMetric, type SweepResults } from "./collect.ts";
import { collectRuns } from "./runs.ts";
import { membersCsv, tableCsv } from "./csv.ts";
import { tableMarkdown } from "./markdown.ts";
import { comparisonCsv, comparisonMarkdown } from "./paired.ts";
import { sweepPlots } from "./plots.ts";
import type { SummaryOptions } from "./stats.ts";
import { buildTable, countStates, type SweepTable } from "./table.ts";

/** Options of {@link writeSweepReport}. */
export interface SweepReportOptions {
  /** Output directory (default `<sweep-dir>/report`); created if missing. */
  out?: string;
  /** The command recorded in `README.md` (default `deno task report <sweep-dir> [--out <out>]`). */
  command?: string;
  /** Time recorded in `README.md` (default now). */
  date?: Date;
  /** Bootstrap settings of the CIs (default 10 000 resamples, seed 0, 95 %). */
  bootstrap?: SummaryOptions;
  /** A variant every other is compared with, paired by seed (`report/paired.ts`). */
  baseline?: string;
}

/** What {@link writeSweepReport} wrote and computed. */
export interface SweepReport {
  /** The output directory. */
  out: string;
  /** Paths written. */
  files: {
    readme: string;
    table: string;
    csv: string;
    members: string;
    svgs: string[];
    comparison?: { markdown: string; csv: string };
  };
  /** The Markdown table with its notes (the contents of `table.md`). */
  markdown: string;
  /** With a baseline: the paired comparison as Markdown (the contents of `comparison.md`). */
  comparison?: string;
  /** The table as data. */
  table: SweepTable;
  /** What was read from the sweep directory. */
  results: SweepResults;
}

/** A word for a POSIX shell: as it is when safe, else single-quoted. */
function shellQuote(word: string): string {
  return /^[\w./,=+:@%-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}

/** `10 members: 8 done, 1 failed, 1 not run`. */
export function memberCounts(results: SweepResults): string {
  const counts = countStates(results.members);
  const parts = (["done", "failed", "running", "not run", "unreadable"] as const)
    .filter((s) => s === "done" || counts[s] > 0).map((s) => `${counts[s]} ${s}`);
  return `${counts.total} members: ${parts.join(", ")}`;
}

/** The README: provenance, counts, the table, the plots, the files. */
function readme(
  report: Omit<SweepReport, "files">,
  plots: { stem: string; title: string }[],
  meta: { command: string; date: Date },
): string {
  const { manifest, warnings } = report.results;
  const from = manifest.file === ""
    ? `${report.results.members.length} run directories (grouped by recipe name)`
    : `\`${join(report.results.dir, "sweep.json")}\` (sweep file \`${manifest.file}\`)`;
  const lines = [
    manifest.file === "" ? "# Report of runs" : `# Sweep report: ${manifest.name}`,
    "",
    `Made by \`${meta.command}\` on ${meta.date.toISOString()} from ${from}.`,
    "",
    `${memberCounts(report.results)}; ${report.table.rows.length} variants.`,
  ];
  const toggles = Object.entries(manifest.toggles);
  if (toggles.length) {
    lines.push("", "Toggles:", "", ...toggles.map(([name, what]) => `- \`${name}\`: ${what}`));
  }
  if (warnings.length) lines.push("", "Warnings:", "", ...warnings.map((w) => `- ${w}`));
  lines.push("", "## Table", "", report.markdown.replace(/^### .*\n\n/, ""));
  if (report.comparison) {
    lines.push(report.comparison.replace(/^### (.*)\n/, "## $1\n"));
  }
  if (plots.length) {
    lines.push("## Plots", "");
    for (const p of plots) lines.push(`![${p.title}](${p.stem}.svg)`, "");
  }
  lines.push(
    "## Files",
    "",
    "- `table.md`: the table above.",
    "- `table.csv`: one row per variant, raw numbers (fractions, not percent).",
    "- `members.csv`: one row per member with its seed, state, raw metric values and error.",
    ...(report.comparison
      ? ["- `comparison.md`, `comparison.csv`: every variant against the baseline, paired by seed."]
      : []),
    "- `*.svg`: the plots.",
    "",
    "Columns and statistics are described in `docs/reports.md`.",
    "",
  );
  return lines.join("\n");
}

/**
 * Reads the sweep directory `sweepDir` and writes its report.
 *
 * @param sweepDir A sweep directory (`sweep.json`, `members/<id>/status.json`).
 * @param options Output directory, recorded command and date, bootstrap settings.
 * @throws when `sweep.json` is missing or corrupt; a member's missing or bad
 *   status only marks that member.
 */
export async function writeSweepReport(
  sweepDir: string,
  options: SweepReportOptions = {},
): Promise<SweepReport> {
  const args = [
    sweepDir,
    ...(options.out ? ["--out", options.out] : []),
    ...(options.baseline ? ["--baseline", options.baseline] : []),
  ].map(shellQuote);
  return await writeReport(await collectSweep(sweepDir), {
    ...options,
    out: options.out ?? join(sweepDir, "report"),
    command: options.command ?? `deno task report ${args.join(" ")}`,
  });
}

/**
 * Reads run directories made by `deno task run` (or folders of them;
 * `report/runs.ts`) and writes their report: runs grouped by recipe name,
 * mean ± std over their seeds.
 *
 * @param paths Run directories, or folders holding them.
 * @param options As for sweeps, plus the `metrics` columns (default: each
 *   evaluator's `top1`, else its first metric); `out` defaults to
 *   `<folder>/report` for one folder, else `<parent of the first run>/report`.
 */
export async function writeRunsReport(
  paths: string[],
  options: SweepReportOptions & { metrics?: SweepMetric[] } = {},
): Promise<SweepReport> {
  const results = await collectRuns(paths, { metrics: options.metrics });
  const first = results.members[0]!.member.recipe_file;
  const folder = paths.length === 1 &&
    !results.members.some((m) => m.member.id === basename(paths[0]!));
  const out = options.out ?? join(folder ? paths[0]! : dirname(dirname(first)), "report");
  const metricArgs = (options.metrics ?? []).flatMap((m) => [
    "--metric",
    m.better === "lower" ? `${m.key}:lower` : m.key,
  ]);
  const args = [
    ...paths,
    ...metricArgs,
    ...(options.out ? ["--out", options.out] : []),
    ...(options.baseline ? ["--baseline", options.baseline] : []),
  ];
  return await writeReport(results, {
    ...options,
    out,
    command: options.command ?? `deno task report ${args.map(shellQuote).join(" ")}`,
  });
}

/** Writes the table, CSVs, plots and README of `results` into `options.out`. */
async function writeReport(
  results: SweepResults,
  options: SweepReportOptions & { out: string; command: string },
): Promise<SweepReport> {
  const table = buildTable(results, options.bootstrap);
  const markdown = tableMarkdown(table);
  const comparison = options.baseline === undefined
    ? undefined
    : comparisonMarkdown(table, options.baseline);
  const out = options.out;
  await Deno.mkdir(out, { recursive: true });

  const plots = sweepPlots(results, table);
  const svgs: string[] = [];
  for (const plot of plots) {
    const path = join(out, `${plot.stem}.svg`);
    await writeFileAtomic(path, await renderSvg(plot.spec));
    svgs.push(path);
  }
  const files: SweepReport["files"] = {
    readme: join(out, "README.md"),
    table: join(out, "table.md"),
    csv: join(out, "table.csv"),
    members: join(out, "members.csv"),
    svgs,
  };
  if (comparison !== undefined) {
    files.comparison = { markdown: join(out, "comparison.md"), csv: join(out, "comparison.csv") };
    await writeFileAtomic(files.comparison.markdown, comparison);
    await writeFileAtomic(files.comparison.csv, comparisonCsv(table, options.baseline!));
  }
  await writeFileAtomic(files.table, markdown);
  await writeFileAtomic(files.csv, tableCsv(table));
  await writeFileAtomic(files.members, membersCsv(results.manifest, results.members));
  const report = { out, markdown, table, results, ...(comparison && { comparison }) };
  await writeFileAtomic(
    files.readme,
    readme(report, plots, { command: options.command, date: options.date ?? new Date() }),
  );
  return { ...report, files };
}
