/**
 * The `mimic_cxr` source: MIMIC-CXR-JPG (Johnson et al., PhysioNet) in its
 * published layout —
 *
 * ```
 * <root>/mimic-cxr-2.0.0-metadata.csv[.gz]   dicom_id, subject_id, study_id, ViewPosition, …
 * <root>/mimic-cxr-2.0.0-split.csv[.gz]      dicom_id, study_id, subject_id, split (train|validate|test)
 * <root>/mimic-cxr-2.0.0-chexpert.csv[.gz]   subject_id, study_id, 14 findings (optional)
 * <root>/files/p10/p10000032/s50414267/<dicom_id>.jpg
 * <reports>/files/p10/p10000032/s50414267.txt  (MIMIC-CXR reports; default reports = root)
 * ```
 *
 * One sample per image that passes the view filter (`views`, on
 * `ViewPosition`, default `[PA, AP]`) and the row `filter`s; its caption is the
 * study's report section (`data/report_sections.ts`: IMPRESSION, falling back
 * to FINDINGS, then the last paragraph); its split comes from the official
 * split CSV (`validate` → `val`); its multi-label targets from the CheXpert
 * label CSV under the uncertain/blank policies (all NaN when the study has no
 * label row). Reports are read once when the source is built (`concurrency`
 * files at a time); a missing report is a `missing_file`, a report with no
 * usable text an `empty_caption`, an image not in the split CSV a `bad_row`.
 *
 * @module
 */
import { join } from "node:path";
import { BadInputLog, type BadInputRecord } from "./bad_input.ts";
import { assembleSource, type FileSourceParams, type TaggedRecord } from "./assemble.ts";
import { type LabelPolicy, labelRow } from "./chexpert.ts";
import { mapLimit } from "./decode.ts";
import type { FileImageSource } from "./file_source.ts";
import { checkFilterColumns, parseFilter, passesFilters } from "./filters.ts";
import { extractReportText, type ReportFallback, type ReportSection } from "./report_sections.ts";
import { readTable, requireColumns, type TableRow } from "./table.ts";

/** Validated parameters of the `mimic_cxr` source. */
export interface MimicParams extends FileSourceParams, LabelPolicy {
  /** MIMIC-CXR-JPG root (holds `files/` and the CSVs). */
  root: string;
  /** Root of the report `.txt` tree (default: `root`). */
  reports?: string;
  /** Metadata CSV (default: `mimic-cxr-2.0.0-metadata.csv[.gz]` under root). */
  metadata?: string;
  /** Official split CSV (default: `mimic-cxr-2.0.0-split.csv[.gz]` under root). */
  split_csv?: string;
  /** CheXpert label CSV (default: `mimic-cxr-2.0.0-chexpert.csv[.gz]` under root when present). */
  labels?: string;
  /** Kept `ViewPosition` values (`[]` keeps all). */
  views: string[];
  /** Extra row filters on the metadata. */
  filter: string[];
  /** Report section used as caption. */
  section: ReportSection;
  /** Sections tried when it is missing. */
  fallback: ReportFallback[];
  /** Finding columns of the label CSV (default: all 14). */
  findings: string[];
  /** Source name (default `mimic_cxr`). */
  name?: string;
}

/** `root/name`, or `root/name.gz` when only that exists; `undefined` when neither does. */
async function findTable(root: string, name: string): Promise<string | undefined> {
  for (const candidate of [join(root, name), join(root, `${name}.gz`)]) {
    try {
      if ((await Deno.stat(candidate)).isFile) return candidate;
    } catch {
      // try the next candidate
    }
  }
  return undefined;
}

async function requiredTable(root: string, name: string, given?: string): Promise<string> {
  const file = given ?? await findTable(root, name);
  if (!file) {
    throw new Error(
      `mimic_cxr: "${name}" (or "${name}.gz") not found in "${root}"; expected the ` +
        `MIMIC-CXR-JPG layout (see docs/data.md) or an explicit path`,
    );
  }
  return file;
}

/** The `pXX/pSUBJECT/sSTUDY` part of MIMIC-CXR paths. */
export function studyDir(subject: string, study: string): string {
  return `files/p${subject.slice(0, 2)}/p${subject}/s${study}`;
}

async function studyLabels(
  params: MimicParams,
  log: BadInputLog,
): Promise<Map<string, Float32Array>> {
  const file = params.labels ?? await findTable(params.root, "mimic-cxr-2.0.0-chexpert.csv");
  const out = new Map<string, Float32Array>();
  if (!file) return out;
  const table = await readTable(file, { log });
  requireColumns(table, { columns: ["study_id", ...params.findings], what: "label column" });
  for (const row of table.rows) {
    const labels = labelRow(row.values, { findings: params.findings, policy: params });
    const where = `${file}:${row.line}`;
    if (typeof labels === "string") {
      log.report({ path: where, reason: "bad_label", detail: labels });
    } else out.set(String(row.values.study_id).trim(), labels);
  }
  return out;
}

/** Reads and extracts the caption of every study in `studies` (study → text, `""` when empty). */
async function studyCaptions(
  studies: Map<string, string>,
  at: { params: MimicParams; log: BadInputLog },
): Promise<Map<string, string>> {
  const { params, log } = at;
  const reports = params.reports ?? params.root;
  const entries = [...studies];
  // Reports are read concurrently but problems are reported afterwards, in
  // study order, so the `fail` policy always names the same first bad report.
  const results = await mapLimit(entries, {
    limit: Math.max(8, params.concurrency),
    fn: async ([study, subject]): Promise<{ caption: string; problem?: BadInputRecord }> => {
      const path = join(reports, `${studyDir(subject, study)}.txt`);
      let text: string;
      try {
        text = await Deno.readTextFile(path);
      } catch (e) {
        return {
          caption: "",
          problem: { path, reason: "missing_file", detail: (e as Error).message },
        };
      }
      const caption = extractReportText(text, params);
      if (caption) return { caption };
      const detail = `no ${params.section} text (fallback ${params.fallback.join(", ") || "none"})`;
      return { caption, problem: { path, reason: "empty_caption", detail } };
    },
  });
  const texts = results.map(({ caption, problem }) => {
    if (problem) log.report(problem);
    return caption;
  });
  return new Map(entries.map(([study], i) => [study, texts[i]!]));
}

function imageRecord(
  row: TableRow,
  at: { params: MimicParams; splits: Map<string, string>; file: string; log: BadInputLog },
): (TaggedRecord & { study: string; subject: string }) | undefined {
  const dicom = String(row.values.dicom_id).trim();
  const subject = String(row.values.subject_id).trim();
  const study = String(row.values.study_id).trim();
  const split = at.splits.get(dicom);
  if (!split) {
    const detail = `dicom_id ${dicom} is not in the split CSV`;
    at.log.report({ path: `${at.file}:${row.line}`, reason: "bad_row", detail });
    return undefined;
  }
  const path = join(at.params.root, studyDir(subject, study), `${dicom}.jpg`);
  return { path, captions: [], label: -1, split, study, subject };
}

/** Reads the metadata, split and label tables; checks their columns. */
async function readMimicTables(params: MimicParams, log: BadInputLog) {
  const metaFile = await requiredTable(
    params.root,
    "mimic-cxr-2.0.0-metadata.csv",
    params.metadata,
  );
  const splitFile = await requiredTable(params.root, "mimic-cxr-2.0.0-split.csv", params.split_csv);
  const [meta, splitTable, labels] = await Promise.all([
    readTable(metaFile, { log }),
    readTable(splitFile, { log }),
    studyLabels(params, log),
  ]);
  requireColumns(meta, {
    columns: ["dicom_id", "subject_id", "study_id"],
    what: "metadata column",
  });
  requireColumns(splitTable, { columns: ["dicom_id", "split"], what: "split CSV column" });
  const splits = new Map(
    splitTable.rows.map((r) => [String(r.values.dicom_id).trim(), String(r.values.split)]),
  );
  return { metaFile, meta, splits, labels };
}

/**
 * Builds the `mimic_cxr` source.
 *
 * @param params See {@link MimicParams}.
 * @param ctx The recipe `seed` (fraction splits).
 */
export async function createMimicSource(
  params: MimicParams,
  ctx: { seed: number; cacheDir?: string },
): Promise<FileImageSource> {
  const name = params.name ?? "mimic_cxr";
  const log = new BadInputLog(name, { policy: params.bad_input });
  const { metaFile, meta, splits, labels } = await readMimicTables(params, log);
  const views = params.views.length ? [`ViewPosition in [${params.views.join(", ")}]`] : [];
  const filters = [...views, ...params.filter].map(parseFilter);
  checkFilterColumns(filters, { columns: meta.columns, file: metaFile });
  const at = { params, splits, file: metaFile, log };
  const images = meta.rows.filter((r) => passesFilters(r.values, filters))
    .map((r) => imageRecord(r, at)).filter((r) => r !== undefined);
  const studies = new Map(images.map((r) => [r.study, r.subject]));
  const captions = await studyCaptions(studies, { params, log });
  const empty = new Float32Array(params.findings.length).fill(NaN);
  const records: TaggedRecord[] = images.filter((r) => captions.get(r.study))
    .map(({ study, subject: _, ...r }) => ({
      ...r,
      captions: [captions.get(study)!],
      labels: labels.get(study) ?? empty,
    }));
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
