/**
 * The `manifest` source: a CSV, TSV or JSONL table with one row per image —
 * an image path column (default `image_path`), a text column (default
 * `caption`), optionally a class label column, a split column and row filters
 * such as `ViewPosition in [PA, AP]`. Relative image paths are resolved
 * against `root` (default: the manifest's own directory).
 *
 * Bad rows: an unreadable row, a missing image path or an unknown label is a
 * `bad_row` / `bad_label`, an empty text an `empty_caption`; the source's
 * `bad_input` policy skips (counted) or fails on them. Missing and corrupt
 * image files are found when their batch is decoded.
 *
 * @module
 */
import { dirname, isAbsolute, join } from "node:path";
import { BadInputLog } from "./bad_input.ts";
import {
  assembleSource,
  canonicalSplit,
  type FileSourceParams,
  type TaggedRecord,
} from "./assemble.ts";
import type { FileImageSource } from "./file_source.ts";
import { checkFilterColumns, parseFilter, passesFilters } from "./filters.ts";
import { readTable, requireColumns, type TableFormat, type TableRow } from "./table.ts";

/** Validated parameters of the `manifest` source. */
export interface ManifestParams extends FileSourceParams {
  /** The manifest file. */
  path: string;
  /** Table format (default: from the extension). */
  format?: TableFormat;
  /** Image path column. */
  image: string;
  /** Caption (text) column. */
  text: string;
  /** Class label column (class name, or integer index into `classes`). */
  label?: string;
  /** Class names indexed by label (default: the label column's distinct values, sorted). */
  classes?: string[];
  /** Split column (values such as `train`, `validate`, `test`). */
  split?: string;
  /** Row filters, e.g. `ViewPosition in [PA, AP]`. */
  filter: string[];
  /** Directory relative image paths are resolved against (default: the manifest's). */
  root?: string;
  /** Source name (default: the manifest's file name without extension). */
  name?: string;
  /** Rows naming one image file are one training sample; its caption is drawn per epoch. */
  merge_captions?: boolean;
}

/** `value` as a path: absolute paths stay, relative ones join `root`. */
export function resolvePath(value: string, root: string): string {
  return isAbsolute(value) ? value : join(root, value);
}

/** Class index of a label cell, or `undefined` when it names no class. */
function classOf(value: unknown, classes: readonly string[]): number | undefined {
  const text = String(value ?? "").trim();
  const byName = classes.indexOf(text);
  if (byName >= 0) return byName;
  const n = Number(text);
  return text !== "" && Number.isInteger(n) && n >= 0 && n < classes.length ? n : undefined;
}

/** The split names rows may carry, after `canonicalSplit`. */
const SPLITS = ["train", "val", "test"];

/** Whether a cell holds text or a number (CSV cells always do; JSONL ones may be objects, lists, null). */
function textCell(value: unknown): boolean {
  return value === undefined || typeof value === "string" ||
    (typeof value === "number" && Number.isFinite(value));
}

function rowRecord(
  row: TableRow,
  at: { params: ManifestParams; file: string; root: string; classes: string[]; log: BadInputLog },
): TaggedRecord | undefined {
  const { params, log } = at;
  const where = `${at.file}:${row.line}`;
  const notText = [params.image, params.text].find((c) => !textCell(row.values[c]));
  if (notText !== undefined) {
    const detail = `"${notText}" is ${
      JSON.stringify(row.values[notText])
    }; expected text (or a number)`;
    log.report({ path: where, reason: "bad_row", detail });
    return undefined;
  }
  const image = String(row.values[params.image] ?? "").trim();
  if (!image) {
    log.report({ path: where, reason: "bad_row", detail: `empty "${params.image}" cell` });
    return undefined;
  }
  const path = resolvePath(image, at.root);
  const caption = String(row.values[params.text] ?? "").trim();
  if (!caption) {
    log.report({
      path: where,
      reason: "empty_caption",
      detail: `empty "${params.text}" for ${path}`,
    });
    return undefined;
  }
  let label = -1;
  if (params.label !== undefined) {
    const found = classOf(row.values[params.label], at.classes);
    if (found === undefined) {
      const detail = `label ${JSON.stringify(row.values[params.label])} is not one of: ` +
        at.classes.join(", ");
      log.report({ path: where, reason: "bad_label", detail });
      return undefined;
    }
    label = found;
  }
  const split = params.split === undefined ? undefined : String(row.values[params.split] ?? "");
  if (split !== undefined && !SPLITS.includes(canonicalSplit(split))) {
    const detail = `split ${JSON.stringify(split)} is not train, val (validate, valid, ` +
      `validation, dev) or test (testing); filter such rows out (filter: ["${params.split} != ` +
      `${split || "''"}"]) or fix the cell`;
    log.report({ path: where, reason: "bad_row", detail });
    return undefined;
  }
  return { path, captions: [caption], label, split };
}

/**
 * Builds the `manifest` source.
 *
 * @param params See {@link ManifestParams}.
 * @param ctx The recipe `seed` (fraction splits).
 */
export async function createManifestSource(
  params: ManifestParams,
  ctx: { seed: number; cacheDir?: string },
): Promise<FileImageSource> {
  const name = params.name ?? params.path.split("/").at(-1)!.replace(/\.[^.]*(\.gz)?$/, "");
  const log = new BadInputLog(name, { policy: params.bad_input });
  const table = await readTable(params.path, { log, format: params.format });
  const needed = [params.image, params.text, params.label, params.split].filter((c) =>
    c !== undefined
  ) as string[];
  requireColumns(table, { columns: needed, what: "manifest column" });
  const filters = params.filter.map(parseFilter);
  checkFilterColumns(filters, { columns: table.columns, file: params.path });
  const rows = table.rows.filter((r) => passesFilters(r.values, filters));
  const classes = params.classes ?? (params.label === undefined ? [] : [
    ...new Set(rows.map((r) => String(r.values[params.label!] ?? "").trim()).filter(Boolean)),
  ].sort());
  const root = params.root ?? dirname(params.path);
  const at = { params, file: params.path, root, classes, log };
  const records = rows.map((r) => rowRecord(r, at)).filter((r) => r !== undefined);
  return assembleSource(records, {
    name,
    classNames: classes,
    params,
    seed: ctx.seed,
    log,
    cacheDir: ctx.cacheDir,
    mergeCaptions: params.merge_captions === true,
  });
}
