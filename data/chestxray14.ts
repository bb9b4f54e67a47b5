/**
 * The `chestxray14` source: NIH ChestX-ray14 (Wang et al., arXiv 1705.02315)
 * in its published layout, for multi-label evaluation —
 *
 * ```
 * <root>/Data_Entry_2017.csv       Image Index, Finding Labels (a|b|…, or "No Finding"), View Position, …
 * <root>/test_list.txt             image names of the official test part (optional)
 * <root>/images/00000001_000.png   the images (all archives extracted into one folder)
 * ```
 *
 * Labels are the 14 findings (no uncertain labels: each is 1 or 0); captions
 * list the positive findings (`"effusion, mass"`, or `"no finding"`). Splits come
 * from `test_list.txt` when present (its images → `test`, all others → `train`,
 * i.e. the official train+val part), else every image is `train` (use `val` /
 * `test` fractions). A finding name outside the 14 in a row is a `bad_label`.
 *
 * @module
 */
import { join } from "node:path";
import { BadInputLog } from "./bad_input.ts";
import { assembleSource, type FileSourceParams, type TaggedRecord } from "./assemble.ts";
import { findingsCaption } from "./chexpert.ts";
import type { FileImageSource } from "./file_source.ts";
import { checkFilterColumns, parseFilter, passesFilters } from "./filters.ts";
import { readTable, requireColumns } from "./table.ts";

/** The 14 ChestX-ray14 findings, as the `Finding Labels` column spells them. */
export const CHESTXRAY14_FINDINGS: readonly string[] = [
  "Atelectasis",
  "Cardiomegaly",
  "Effusion",
  "Infiltration",
  "Mass",
  "Nodule",
  "Pneumonia",
  "Pneumothorax",
  "Consolidation",
  "Edema",
  "Emphysema",
  "Fibrosis",
  "Pleural_Thickening",
  "Hernia",
];

/** Validated parameters of the `chestxray14` source. */
export interface ChestXray14Params extends FileSourceParams {
  /** Dataset root. */
  root: string;
  /** Label CSV (default `<root>/Data_Entry_2017.csv`). */
  csv?: string;
  /** Image folder (default `<root>/images`). */
  images?: string;
  /** Findings used as targets (default: all 14). */
  findings: string[];
  /** Row filters, e.g. `View Position in [PA, AP]`. */
  filter: string[];
}

/** The names a list file holds, or `undefined` when there is none (an unreadable one is an error). */
async function readList(path: string): Promise<Set<string> | undefined> {
  let text: string;
  try {
    text = await Deno.readTextFile(path);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path} is unreadable: ${(e as Error).message}`);
  }
  return new Set(text.split("\n").map((l) => l.trim()).filter(Boolean));
}

/**
 * Targets `[F]` from a `Finding Labels` cell, or an error message for an unknown finding.
 *
 * @param cell E.g. `"Effusion|Mass"` or `"No Finding"`.
 * @param findings The target findings (names outside them but among the 14 are ignored).
 */
export function chestxray14Targets(
  cell: string,
  findings: readonly string[],
): Float32Array | string {
  const out = new Float32Array(findings.length);
  for (const raw of cell.split("|").map((s) => s.trim()).filter(Boolean)) {
    if (raw === "No Finding") continue;
    if (!CHESTXRAY14_FINDINGS.includes(raw)) {
      return `unknown finding "${raw}"; expected "No Finding" or: ${
        CHESTXRAY14_FINDINGS.join(", ")
      }`;
    }
    const i = findings.indexOf(raw);
    if (i >= 0) out[i] = 1;
  }
  return out;
}

/**
 * Builds the `chestxray14` source.
 *
 * @param params See {@link ChestXray14Params}.
 * @param ctx The recipe `seed` (fraction splits).
 */
export async function createChestXray14Source(
  params: ChestXray14Params,
  ctx: { seed: number; cacheDir?: string },
): Promise<FileImageSource> {
  const name = "chestxray14";
  const log = new BadInputLog(name, { policy: params.bad_input });
  const file = params.csv ?? join(params.root, "Data_Entry_2017.csv");
  const table = await readTable(file, { log });
  requireColumns(table, {
    columns: ["Image Index", "Finding Labels"],
    what: "ChestX-ray14 column",
  });
  const filters = params.filter.map(parseFilter);
  checkFilterColumns(filters, { columns: table.columns, file });
  const testList = await readList(join(params.root, "test_list.txt"));
  const images = params.images ?? join(params.root, "images");
  const records: TaggedRecord[] = [];
  for (const row of table.rows.filter((r) => passesFilters(r.values, filters))) {
    const image = String(row.values["Image Index"] ?? "").trim();
    const labels = chestxray14Targets(String(row.values["Finding Labels"] ?? ""), params.findings);
    if (typeof labels === "string") {
      log.report({ path: `${file}:${row.line}`, reason: "bad_label", detail: labels });
      continue;
    }
    const split = testList?.has(image) ? "test" : "train";
    const caption = findingsCaption(labels, params.findings);
    records.push({ path: join(images, image), captions: [caption], label: -1, labels, split });
  }
  return assembleSource(records, {
    name,
    classNames: [],
    labelNames: params.findings,
    params,
    seed: ctx.seed,
    cacheDir: ctx.cacheDir,
    log,
  });
}
