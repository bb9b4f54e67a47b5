/**
 * Reading tables — CSV (with `csv-parse`) and JSON Lines — into rows that
 * remember their line, with unreadable rows sent to a {@link BadInputLog}
 * (`file:line` as the path): under `skip` they are counted and dropped, under
 * `fail` the first stops the run. A quote left open is fatal under both
 * policies (it swallows the rest of the file, so there is nothing to skip to).
 *
 * @module
 */
import { parse } from "csv-parse/sync";
import type { BadInputLog } from "./bad_input.ts";

/** One table row: column → value, plus the 1-based line it started on. */
export interface TableRow {
  /** Column → value (CSV values are strings; JSONL keeps JSON types). */
  values: Record<string, unknown>;
  /** 1-based line of the row in its file. */
  line: number;
}

/** A table read from a file. */
export interface Table {
  /** The file. */
  file: string;
  /** Column names (CSV header; for JSONL the keys met, in order). */
  columns: string[];
  /** Readable rows. */
  rows: TableRow[];
}

/** Table formats by file extension. */
export type TableFormat = "csv" | "tsv" | "jsonl";

/**
 * The format of `file` from its extension (`.csv`, `.tsv`, `.jsonl`/`.ndjson`,
 * with an optional `.gz` after it), or an error naming the choices.
 */
export function tableFormat(file: string): TableFormat {
  const name = file.replace(/\.gz$/, "").toLowerCase();
  if (name.endsWith(".csv")) return "csv";
  if (name.endsWith(".tsv")) return "tsv";
  if (name.endsWith(".jsonl") || name.endsWith(".ndjson")) return "jsonl";
  throw new Error(
    `table "${file}": unknown format; expected a file ending in .csv, .tsv, .jsonl or .ndjson ` +
      `(optionally .gz), or set format: csv | tsv | jsonl`,
  );
}

async function readText(file: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await Deno.readFile(file);
  } catch (e) {
    throw new Error(`cannot read table "${file}": ${(e as Error).message}`);
  }
  if (file.endsWith(".gz")) {
    try {
      const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
        .pipeThrough(new DecompressionStream("gzip"));
      bytes = new Uint8Array(await new Response(stream).arrayBuffer());
    } catch (e) {
      throw new Error(`table "${file}": its gzip data is corrupt (${(e as Error).message})`);
    }
  }
  try {
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes).replace(/^\uFEFF/, "");
  } catch {
    throw new Error(
      `table "${file}" is not UTF-8 text; save it as UTF-8 (its values would be garbled)`,
    );
  }
}

/** Refuses a header that names a column twice (the later one would replace the earlier). */
function uniqueColumns(file: string, header: string[]): string[] {
  const columns = header.map((h) => h.trim());
  columns.forEach((name, i) => {
    const first = columns.indexOf(name);
    if (first !== i) {
      throw new Error(
        `table "${file}": the header names column "${name}" twice (columns ${first + 1} and ` +
          `${i + 1}); rename one`,
      );
    }
  });
  return columns;
}

function readCsv(text: string, at: { file: string; log: BadInputLog; delimiter: string }): Table {
  let columns: string[] = [];
  let quoteOpen = false;
  const parsed = (() => {
    try {
      return parse(text, {
        columns: (header: string[]) => (columns = uniqueColumns(at.file, header)),
        delimiter: at.delimiter,
        info: true,
        skip_empty_lines: true,
        skip_records_with_error: true,
        on_skip: (err: { message: string; lines?: number; code?: string } | undefined) => {
          // An open quote swallowed the rest of the file: fatal (below), not one bad row.
          if (err?.code === "CSV_QUOTE_NOT_CLOSED") return void (quoteOpen = true);
          at.log.report({
            path: `${at.file}:${err?.lines ?? "?"}`,
            reason: "bad_row",
            detail: err?.message ?? "unreadable row",
          });
        },
      }) as { record: Record<string, string>; info: { lines: number } }[];
    } catch (e) {
      const message = (e as Error).message;
      throw new Error(
        message.startsWith(`table "${at.file}"`)
          ? message
          : `table "${at.file}" is unreadable: ${message}`,
      );
    }
  })();
  if (quoteOpen) {
    const after = parsed.at(-1)?.info.lines ?? 1;
    throw new Error(
      `table "${at.file}": a quote opened on line ${after + 1} or later is never closed, so ` +
        'the rest of the file reads as one value; close it (a quote inside a value is written "")',
    );
  }
  const rows = parsed.map((r) => ({ values: r.record, line: r.info.lines }));
  return { file: at.file, columns, rows };
}

function readJsonl(text: string, at: { file: string; log: BadInputLog }): Table {
  const columns = new Set<string>();
  const rows: TableRow[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch (e) {
      at.log.report({
        path: `${at.file}:${i + 1}`,
        reason: "bad_row",
        detail: (e as Error).message,
      });
      return;
    }
    if (typeof value !== "object" || value === null || Array.isArray(value)) {
      const detail = `expected a JSON object per line, got ${line.slice(0, 40)}`;
      at.log.report({ path: `${at.file}:${i + 1}`, reason: "bad_row", detail });
      return;
    }
    for (const k of Object.keys(value)) columns.add(k);
    rows.push({ values: value as Record<string, unknown>, line: i + 1 });
  });
  return { file: at.file, columns: [...columns], rows };
}

/**
 * Reads a CSV, TSV or JSONL table (optionally gzipped).
 *
 * @param file The table.
 * @param options The bad-input `log` and the `format` (default: from the extension).
 */
export async function readTable(
  file: string,
  options: { log: BadInputLog; format?: TableFormat },
): Promise<Table> {
  const format = options.format ?? tableFormat(file);
  const text = await readText(file);
  if (format === "jsonl") return readJsonl(text, { file, log: options.log });
  return readCsv(text, { file, log: options.log, delimiter: format === "tsv" ? "\t" : "," });
}

/**
 * Checks that `table` has `columns`; a missing one is an error listing the table's columns.
 *
 * @param table The table.
 * @param options `columns` needed and `what` they are for (e.g. `"manifest image column"`).
 */
export function requireColumns(
  table: Table,
  options: { columns: readonly string[]; what: string },
): void {
  for (const c of options.columns) {
    if (!table.columns.includes(c)) {
      throw new Error(
        `${options.what} "${c}" is not a column of ${table.file}; ` +
          `expected one of: ${table.columns.join(", ") || "(no columns)"}`,
      );
    }
  }
}
