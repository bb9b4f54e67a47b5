/**
 * Rebuilds a sweep directory from a committed report, so that `deno task
 * report` can be run again (another `--baseline`, new columns of the
 * statistics) after the sweep directory itself is gone: `sweep.json` from the
 * sweep file (expanded as `deno task sweep` expands it, so member ids,
 * variants and seeds are the sweep's), and each member's `status.json` from
 * the report's `members.csv` (state, times, throughput, metric values,
 * error).
 *
 * ```sh
 * deno run --allow-read --allow-write --allow-env tools/sweep_from_report.ts \
 *   recipes/sweeps/slip.yaml docs/results/slip /tmp/slip
 * deno task report /tmp/slip --baseline clip --out /tmp/slip/report
 * ```
 *
 * @module
 */
import { join } from "node:path";
import { readTable } from "../data/table.ts";
import { BadInputLog } from "../data/bad_input.ts";
import { sweepManifest, writeManifest } from "../sweep/manifest.ts";
import { prepareSweep } from "../sweep/prepare.ts";
import { writeStatus } from "../sweep/status.ts";
import type { MemberStatus } from "../sweep/types.ts";

/** A cell as a number, or `undefined` when empty. */
function numberCell(value: unknown): number | undefined {
  const text = String(value ?? "").trim();
  return text === "" ? undefined : Number(text);
}

/**
 * Writes `<out>/sweep.json` and `<out>/members/<id>/status.json`.
 *
 * @param sweepFile The sweep file the report was made from.
 * @param reportDir The report directory holding `members.csv`.
 * @param out The sweep directory to write.
 * @returns The number of members with a status.
 */
export async function sweepFromReport(
  sweepFile: string,
  reportDir: string,
  out: string,
): Promise<number> {
  const { spec, members } = await prepareSweep(sweepFile);
  const csv = join(reportDir, "members.csv");
  const table = await readTable(csv, { log: new BadInputLog(csv, { policy: "fail" }) });
  const byId = new Map(members.map((m) => [m.id, m]));
  const unknown = table.rows.find((r) => !byId.has(String(r.values.id)));
  if (unknown) {
    throw new Error(
      `${csv}:${unknown.line}: member ${unknown.values.id} is not a member of ${sweepFile} ` +
        `(was the sweep file changed since the report?)`,
    );
  }
  const missing = spec.metrics.filter((m) => !table.columns.includes(m.key)).map((m) => m.key);
  if (missing.length > 0) {
    throw new Error(
      `${csv}: no column for metric ${missing.join(", ")} of ${sweepFile}; the sweep file's ` +
        `metrics changed since the report (its columns: ${table.columns.join(", ")})`,
    );
  }
  await writeManifest(out, sweepManifest(spec, members));
  let written = 0;
  for (const row of table.rows) {
    const v = row.values;
    const state = String(v.state);
    if (state !== "done" && state !== "failed" && state !== "running") continue;
    const evals: NonNullable<MemberStatus["eval"]> = {};
    for (const metric of spec.metrics) {
      const value = numberCell(v[metric.key]);
      if (value === undefined) continue;
      const dot = metric.key.indexOf(".");
      (evals[metric.key.slice(0, dot)] ??= {})[metric.key.slice(dot + 1)] = value;
    }
    const status: MemberStatus = {
      state,
      started: String(v.started ?? ""),
      ...(v.finished ? { finished: String(v.finished) } : {}),
      ...(numberCell(v.wall_s) !== undefined && { wall_s: numberCell(v.wall_s) }),
      ...(numberCell(v.steps) !== undefined && { steps: numberCell(v.steps) }),
      ...(numberCell(v.images_per_s) !== undefined && { images_per_s: numberCell(v.images_per_s) }),
      ...(state === "done" && { eval: evals }),
      ...(v.error ? { error: String(v.error) } : {}),
    };
    await writeStatus(join(out, "members", String(v.id)), status);
    written++;
  }
  return written;
}

if (import.meta.main) {
  const [sweepFile, reportDir, out] = Deno.args;
  if (!sweepFile || !reportDir || !out) {
    console.error("usage: tools/sweep_from_report.ts <sweep.yaml> <report-dir> <out-sweep-dir>");
    Deno.exit(2);
  }
  const n = await sweepFromReport(sweepFile, reportDir, out);
  console.log(`${out}: sweep.json and ${n} member statuses; now: deno task report ${out}`);
}
