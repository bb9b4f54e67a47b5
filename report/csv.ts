/**
 * The sweep table and its members as CSV (RFC 4180: comma-separated, CRLF
 * line ends, fields with a comma, quote or line break quoted, quotes doubled).
 * Numbers are raw (fractions stay fractions, full precision); a missing value
 * is an empty field. For re-analysis, not for reading.
 *
 * @module
 */
import { type MemberResult, metricValue, type SweepManifest } from "./collect.ts";
import type { SweepTable } from "./table.ts";

/** A CSV field value: numbers raw, `undefined`/non-finite as empty. */
export type CsvValue = string | number | boolean | null | undefined;

/** One RFC 4180 field. */
export function csvField(value: CsvValue): string {
  if (value === undefined || value === null) return "";
  if (typeof value === "number") return Number.isFinite(value) ? String(value) : "";
  if (typeof value === "boolean") return value ? "1" : "0";
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** Rows to an RFC 4180 document (header first, CRLF after every record). */
export function toCsv(rows: CsvValue[][]): string {
  return rows.map((r) => r.map(csvField).join(",") + "\r\n").join("");
}

/** A grid value as a CSV field: numbers and strings raw, anything else as JSON. */
function factorValue(value: unknown): CsvValue {
  if (value === undefined || value === null) return undefined;
  return typeof value === "number" || typeof value === "string" ? value : JSON.stringify(value);
}

/**
 * `table.csv`: one row per variant. Columns: `variant, recipe, toggle`, the
 * factor keys, then per metric `<key>_mean, <key>_std, <key>_ci_low,
 * <key>_ci_high, <key>_n, <key>_best` (1 = best of its column), then
 * `minutes, images_per_s, done, failed, running, not_run, unreadable, total, status`.
 */
export function tableCsv(table: SweepTable): string {
  const header: CsvValue[] = ["variant", "recipe", "toggle", ...table.factors];
  for (const m of table.metrics) {
    header.push(...["mean", "std", "ci_low", "ci_high", "n", "best"].map((s) => `${m.key}_${s}`));
  }
  header.push("minutes", "images_per_s", "done", "failed", "running", "not_run", "unreadable");
  header.push("total", "status");
  const rows = table.rows.map((row) => {
    const out: CsvValue[] = [row.variant, row.recipe, row.toggle ?? ""];
    out.push(...table.factors.map((f) => factorValue(row.grid[f])));
    for (const c of row.cells) {
      const s = c?.summary;
      out.push(s?.mean, s?.std, s?.ciLow, s?.ciHigh, s?.n ?? 0, c?.best ?? false);
    }
    const k = row.counts;
    out.push(row.minutes, row.imagesPerSecond, k.done, k.failed, k.running, k["not run"]);
    out.push(k.unreadable, k.total, row.status);
    return out;
  });
  return toCsv([header, ...rows]);
}

/**
 * `members.csv`: one row per member in sweep order. Columns: `index, id,
 * variant, recipe, toggle`, the factor keys, `seed, state, wall_s, steps,
 * images_per_s, started, finished`, one column per metric key (raw value,
 * empty unless the member finished and reported it), `error`.
 */
export function membersCsv(manifest: SweepManifest, members: MemberResult[]): string {
  const header: CsvValue[] = ["index", "id", "variant", "recipe", "toggle", ...manifest.factors];
  header.push("seed", "state", "wall_s", "steps", "images_per_s", "started", "finished");
  header.push(...manifest.metrics.map((m) => m.key), "error");
  const rows = members.map(({ member, state, status, error }) => {
    const out: CsvValue[] = [member.index, member.id, member.variant, member.recipe];
    out.push(member.toggle ?? "", ...manifest.factors.map((f) => factorValue(member.grid[f])));
    out.push(member.seed, state, status?.wall_s, status?.steps, status?.images_per_s);
    out.push(status?.started, status?.finished);
    for (const m of manifest.metrics) {
      out.push(state === "done" ? metricValue(status?.eval, m.key) : undefined);
    }
    out.push(error);
    return out;
  });
  return toCsv([header, ...rows]);
}
