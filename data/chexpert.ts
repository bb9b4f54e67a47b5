/**
 * CheXpert-style labels (Irvin et al., arXiv 1901.07031): 14 findings per
 * study, each cell `1.0` (positive), `0.0` (negative), `-1.0` (uncertain) or
 * blank (not mentioned). The same columns appear in CheXpert's `train.csv` /
 * `valid.csv` and in MIMIC-CXR's `mimic-cxr-2.0.0-chexpert.csv`.
 *
 * Policies, as multi-label targets in {0, 1, NaN} (NaN = ignored by metrics):
 * uncertain −1 → `negative` (0, the default, as NOVA counts them), `positive`
 * (1) or `ignore` (NaN); blank → `negative` (0, the default) or `ignore`.
 *
 * The `chexpert` source reads such a CSV with image paths (`Path` column, e.g.
 * `CheXpert-v1.0-small/valid/patient64541/study1/view1_frontal.jpg`) for
 * evaluation: labels in `batch.labels`, `classNames` empty, captions listing
 * the positive findings (`"cardiomegaly, edema"` or `"no finding"`).
 *
 * @module
 */
import { basename, dirname } from "node:path";
import { BadInputLog } from "./bad_input.ts";
import { assembleSource, type FileSourceParams, type TaggedRecord } from "./assemble.ts";
import type { FileImageSource } from "./file_source.ts";
import { checkFilterColumns, parseFilter, passesFilters } from "./filters.ts";
import { resolvePath } from "./manifest.ts";
import { readTable, requireColumns, type Table } from "./table.ts";

/** The 14 CheXpert findings, in the column order of CheXpert's CSVs. */
export const CHEXPERT_FINDINGS: readonly string[] = [
  "No Finding",
  "Enlarged Cardiomediastinum",
  "Cardiomegaly",
  "Lung Opacity",
  "Lung Lesion",
  "Edema",
  "Consolidation",
  "Pneumonia",
  "Atelectasis",
  "Pneumothorax",
  "Pleural Effusion",
  "Pleural Other",
  "Fracture",
  "Support Devices",
];

/** What an uncertain (−1) label becomes. */
export type UncertainPolicy = "negative" | "positive" | "ignore";

/** What a blank (not mentioned) label becomes. */
export type BlankPolicy = "negative" | "ignore";

/** Label policies. */
export interface LabelPolicy {
  /** Uncertain −1 → 0, 1 or NaN. */
  uncertain: UncertainPolicy;
  /** Blank → 0 or NaN. */
  blank: BlankPolicy;
}

/**
 * The target of one label cell under `policy`: 1, 0 or NaN; `undefined` for a
 * value that is not a CheXpert label (a bad label).
 *
 * @param cell The CSV cell (`"1.0"`, `"0"`, `"-1.0"`, `""`, or a number).
 * @param policy Uncertain and blank policies.
 */
export function labelTarget(cell: unknown, policy: LabelPolicy): number | undefined {
  const text = String(cell ?? "").trim();
  if (text === "") return policy.blank === "negative" ? 0 : NaN;
  const v = Number(text);
  if (v === 1) return 1;
  if (v === 0) return 0;
  if (v === -1) return { negative: 0, positive: 1, ignore: NaN }[policy.uncertain];
  return undefined;
}

/**
 * The targets `[F]` of a row, or an error message naming the bad cell.
 *
 * @param values Column → cell.
 * @param options `findings` (columns) and the label `policy`.
 */
export function labelRow(
  values: Readonly<Record<string, unknown>>,
  options: { findings: readonly string[]; policy: LabelPolicy },
): Float32Array | string {
  const out = new Float32Array(options.findings.length);
  for (const [i, f] of options.findings.entries()) {
    const t = labelTarget(values[f], options.policy);
    if (t === undefined) {
      return `"${f}" is ${JSON.stringify(values[f])}; expected 1, 0, -1 or blank`;
    }
    out[i] = t;
  }
  return out;
}

/**
 * A caption from targets: the positive findings, lower case, `_` as spaces, or `"no finding"`.
 *
 * @param targets `[F]` in {0, 1, NaN}.
 * @param findings The `F` finding names.
 */
export function findingsCaption(targets: Float32Array, findings: readonly string[]): string {
  const positive = findings.filter((f, i) => targets[i] === 1 && f !== "No Finding");
  return positive.length
    ? positive.map((f) => f.toLowerCase().replaceAll("_", " ")).join(", ")
    : "no finding";
}

/** Validated parameters of the `chexpert` source. */
export interface ChexpertParams extends FileSourceParams, LabelPolicy {
  /** Label CSV(s): one path (split `test`) or split → path. */
  csv: string | Record<string, string>;
  /** Directory the image paths are relative to (default: see {@link chexpertRoot}). */
  root?: string;
  /** Image path column. */
  image: string;
  /** Finding columns (default: all 14). */
  findings: string[];
  /** Row filters, e.g. `Frontal/Lateral in [Frontal]`. */
  filter: string[];
  /** Source name (default `chexpert`). */
  name?: string;
}

/**
 * The default image root of a CheXpert CSV: its directory's parent when the
 * first path starts with the directory's name (the official layout,
 * `CheXpert-v1.0-small/valid.csv` holding `CheXpert-v1.0-small/valid/…`), else
 * the CSV's directory.
 *
 * @param csv The CSV path.
 * @param firstPath The first image path in it.
 */
export function chexpertRoot(csv: string, firstPath: string | undefined): string {
  const dir = dirname(csv);
  return firstPath?.startsWith(`${basename(dir)}/`) ? dirname(dir) : dir;
}

function tableRecords(
  table: Table,
  at: { params: ChexpertParams; split: string; log: BadInputLog },
): TaggedRecord[] {
  const { params, split, log } = at;
  requireColumns(table, { columns: [params.image, ...params.findings], what: "chexpert column" });
  const filters = params.filter.map(parseFilter);
  checkFilterColumns(filters, { columns: table.columns, file: table.file });
  const rows = table.rows.filter((r) => passesFilters(r.values, filters));
  const root = params.root ?? chexpertRoot(table.file, String(rows[0]?.values[params.image] ?? ""));
  const out: TaggedRecord[] = [];
  for (const row of rows) {
    const where = `${table.file}:${row.line}`;
    const image = String(row.values[params.image] ?? "").trim();
    const labels = labelRow(row.values, { findings: params.findings, policy: params });
    if (!image || typeof labels === "string") {
      const detail = image ? labels as string : `empty "${params.image}" cell`;
      log.report({ path: where, reason: image ? "bad_label" : "bad_row", detail });
      continue;
    }
    const caption = findingsCaption(labels, params.findings);
    out.push({ path: resolvePath(image, root), captions: [caption], label: -1, labels, split });
  }
  return out;
}

/**
 * Builds the `chexpert` source.
 *
 * @param params See {@link ChexpertParams}.
 * @param ctx The recipe `seed` (fraction splits).
 */
export async function createChexpertSource(
  params: ChexpertParams,
  ctx: { seed: number; cacheDir?: string },
): Promise<FileImageSource> {
  const name = params.name ?? "chexpert";
  const log = new BadInputLog(name, { policy: params.bad_input });
  const csvs = typeof params.csv === "string" ? { test: params.csv } : params.csv;
  const records: TaggedRecord[] = [];
  for (const [split, file] of Object.entries(csvs)) {
    const table = await readTable(file, { log });
    records.push(...tableRecords(table, { params, split, log }));
  }
  return assembleSource(records, {
    name,
    classNames: [],
    labelNames: params.findings,
    params,
    seed: ctx.seed,
    cacheDir: ctx.cacheDir,
    log,
    requireTrain: false,
  });
}
