/**
 * Sweep reports: the table a paper prints (mean ± std over seeds, bootstrap
 * CI, best per column marked, failed and unfinished members counted) as
 * Markdown and CSV, plus plots of each metric against each grid factor and of
 * the seed spread per variant. See `docs/reports.md`.
 *
 * ```ts ignore
 * import { writeSweepReport } from "./report/mod.ts";
 * const report = await writeSweepReport("runs/sweeps/nova_lambda");
 * console.log(report.markdown); // also in runs/sweeps/nova_lambda/report/table.md
 * ```
 *
 * @module
 */
export {
  type Better,
  collectSweep,
  type MemberOutcome,
  type MemberResult,
  type MemberStatus,
  metricValue,
  readManifest,
  type SweepManifest,
  type SweepMember,
  type SweepMetric,
  type SweepResults,
  type VariantGroup,
} from "./collect.ts";
export { mean, sampleStd, type SeedSummary, summarizeSeeds, type SummaryOptions } from "./stats.ts";
export {
  buildTable,
  type MetricCell,
  type StateCounts,
  statusText,
  type SweepTable,
  type TableRow,
} from "./table.ts";
export { isPercentMetric } from "./format.ts";
export { tableMarkdown } from "./markdown.ts";
export { membersCsv, tableCsv } from "./csv.ts";
export { type SweepPlot, sweepPlots } from "./plots.ts";
export {
  type SweepReport,
  type SweepReportOptions,
  writeRunsReport,
  writeSweepReport,
} from "./write.ts";
export { collectRuns, findRunDirs, parseMetricOption } from "./runs.ts";
