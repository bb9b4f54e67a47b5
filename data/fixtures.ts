/**
 * Small real datasets on disk for tests, benchmarks and demos: images written
 * with sharp (JPEG / PNG, 8- or 16-bit, grey or colour), a MIMIC-CXR-JPG tree
 * (metadata, split and label CSVs, JPEGs, report `.txt` files), a CheXpert
 * validation set, a ChestX-ray14 root and WebDataset tar shards. Pixel content is a deterministic pattern of the sample's `value`
 * so tests can check that the right image arrived.
 *
 * @module
 */
import { dirname, join } from "node:path";
import { CHEXPERT_FINDINGS } from "./chexpert.ts";
import { studyDir } from "./mimic.ts";
import { loadSharp } from "./sharp.ts";

/** Options of {@link writeImage}. */
export interface FixtureImageOptions {
  /** Side in pixels (default 32), or `[height, width]`. */
  size?: number | [number, number];
  /** 1 (grey) or 3 (RGB) channels (default 3). */
  channels?: 1 | 3;
  /** `jpeg` (default) or `png`. */
  format?: "jpeg" | "png";
  /** 16-bit PNG (default false). */
  deep?: boolean;
  /** Intensity in `[0, 1]` of the image (default 0.5): a flat field plus a faint gradient. */
  value?: number;
}

/** Raw pixels of a fixture image: `value` everywhere, a ±2% horizontal gradient, channel tints. */
export function fixturePixels(options: FixtureImageOptions = {}): Float32Array {
  const [h, w] = typeof options.size === "number" || options.size === undefined
    ? [options.size ?? 32, options.size ?? 32]
    : options.size;
  const c = options.channels ?? 3;
  const v = options.value ?? 0.5;
  const out = new Float32Array(h * w * c);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      for (let k = 0; k < c; k++) {
        const tint = c === 3 ? (k - 1) * 0.1 : 0;
        out[(y * w + x) * c + k] = Math.min(1, Math.max(0, v + tint + 0.04 * (x / w - 0.5)));
      }
    }
  }
  return out;
}

/**
 * Writes an image file (parent folders created).
 *
 * @param path Destination.
 * @param options Size, channels, format, depth and intensity.
 */
export async function writeImage(path: string, options: FixtureImageOptions = {}): Promise<void> {
  const [h, w] = typeof options.size === "number" || options.size === undefined
    ? [options.size ?? 32, options.size ?? 32]
    : options.size;
  const c = options.channels ?? 3;
  const px = fixturePixels(options);
  const deep = options.deep === true;
  const raw = deep
    ? Uint16Array.from(px, (p) => Math.round(p * 65535))
    : Uint8Array.from(px, (p) => Math.round(p * 255));
  const sharp = await loadSharp();
  let img = sharp(raw, { raw: { width: w, height: h, channels: c } });
  if (c === 1) img = img.toColourspace(deep ? "grey16" : "b-w");
  else if (deep) img = img.toColourspace("rgb16");
  const bytes = options.format === "png" || deep
    ? await img.png().toBuffer()
    : await img.jpeg({ quality: 95 }).toBuffer();
  await Deno.mkdir(dirname(path), { recursive: true });
  await Deno.writeFile(path, bytes);
}

/**
 * Writes a JPEG cut to `keep` of its bytes (a truncated download).
 *
 * @param path Destination.
 * @param keep Fraction of the bytes kept (default 0.5).
 */
export async function writeTruncatedJpeg(path: string, keep = 0.5): Promise<void> {
  await writeImage(path, { size: 64, value: 0.3 });
  const bytes = await Deno.readFile(path);
  await Deno.writeFile(path, bytes.subarray(0, Math.floor(bytes.length * keep)));
}

/** One study of a MIMIC-CXR fixture. */
export interface MimicFixtureStudy {
  /** 8-digit subject id. */
  subject: string;
  /** 8-digit study id. */
  study: string;
  /** Official split (`train`, `validate`, `test`). */
  split: string;
  /** Report text (`undefined`: no report file). */
  report?: string;
  /** Images: dicom id, ViewPosition, intensity, and how the file is broken (if at all). */
  images: { dicom: string; view: string; value?: number; broken?: "missing" | "truncated" }[];
  /** CheXpert cells by finding (`"1.0"`, `"0.0"`, `"-1.0"`, `""`); absent → no label row. */
  labels?: Record<string, string>;
}

function csv(rows: string[][]): string {
  return rows.map((r) =>
    r.map((v) => (/[",\n]/.test(v) ? `"${v.replace(/"/g, '""')}"` : v)).join(",")
  )
    .join("\n") + "\n";
}

/**
 * Writes a MIMIC-CXR-JPG tree (metadata, split, CheXpert label CSVs, JPEGs and
 * reports in the published layout) under `root`.
 *
 * @param root Destination folder.
 * @param studies The studies (see {@link MimicFixtureStudy}).
 */
export async function writeMimicFixture(
  root: string,
  studies: readonly MimicFixtureStudy[],
): Promise<void> {
  const meta = [["dicom_id", "subject_id", "study_id", "ViewPosition", "Rows", "Columns"]];
  const split = [["dicom_id", "study_id", "subject_id", "split"]];
  const labels = [["subject_id", "study_id", ...CHEXPERT_FINDINGS]];
  for (const s of studies) {
    const dir = join(root, studyDir(s.subject, s.study));
    for (const img of s.images) {
      meta.push([img.dicom, s.subject, s.study, img.view, "48", "48"]);
      split.push([img.dicom, s.study, s.subject, s.split]);
      const path = join(dir, `${img.dicom}.jpg`);
      if (img.broken === "truncated") await writeTruncatedJpeg(path);
      else if (img.broken !== "missing") {
        await writeImage(path, { size: 48, channels: 1, value: img.value ?? 0.5 });
      }
    }
    if (s.report !== undefined) {
      await Deno.mkdir(dirname(dir), { recursive: true });
      await Deno.writeTextFile(`${dir}.txt`, s.report);
    }
    if (s.labels) {
      labels.push([
        s.subject,
        s.study,
        ...CHEXPERT_FINDINGS.map((f) => s.labels![f] ?? ""),
      ]);
    }
  }
  await Deno.mkdir(root, { recursive: true });
  await Deno.writeTextFile(join(root, "mimic-cxr-2.0.0-metadata.csv"), csv(meta));
  await Deno.writeTextFile(join(root, "mimic-cxr-2.0.0-split.csv"), csv(split));
  await Deno.writeTextFile(join(root, "mimic-cxr-2.0.0-chexpert.csv"), csv(labels));
}

/** The report phrases of {@link mimicFixtureStudies} (a tiny BERT's vocabulary covers them). */
export const MIMIC_FIXTURE_PHRASES: readonly string[] = [
  "no acute process.",
  "small left effusion.",
  "mild edema.",
  "clear lungs.",
];

/**
 * `n` studies for {@link writeMimicFixture}: the last four `validate` (2) and
 * `test` (2), the rest `train`; study 3 without a report; each a frontal (PA or
 * AP) and a lateral image; Edema positive every third study, Pleural Effusion
 * positive every fourth and uncertain otherwise.
 */
export function mimicFixtureStudies(n: number): MimicFixtureStudy[] {
  const phrases = MIMIC_FIXTURE_PHRASES;
  return Array.from({ length: n }, (_, i) => ({
    subject: `1${String(i).padStart(7, "0")}`,
    study: `5${String(i).padStart(7, "0")}`,
    split: i < n - 4 ? "train" : i < n - 2 ? "validate" : "test",
    report: i === 3 ? undefined : mimicReport({
      findings: phrases[(i + 1) % 4]!,
      impression: i % 5 === 0 ? undefined : phrases[i % 4]!,
    }),
    images: [
      { dicom: `d${i}-f`, view: i % 2 ? "AP" : "PA", value: 0.2 + 0.02 * i },
      { dicom: `d${i}-l`, view: "LATERAL", value: 0.5 },
    ],
    labels: { Edema: i % 3 ? "0.0" : "1.0", "Pleural Effusion": i % 4 ? "-1.0" : "1.0" },
  }));
}

/** One image of a CheXpert or ChestX-ray14 fixture. */
export interface ChestFixtureImage {
  /** Positive findings (the rest are negative). */
  findings: string[];
  /** Intensity of the image (default 0.5). */
  value?: number;
  /** CheXpert: `Frontal` (default) or `Lateral`. */
  view?: "Frontal" | "Lateral";
  /** ChestX-ray14: listed in `test_list.txt` (default false). */
  test?: boolean;
}

/**
 * Writes `<dir>/CheXpert-v1.0-small/valid.csv` and its JPEGs in the published
 * layout (`Path` relative to `dir`, `Frontal/Lateral`, the 14 findings as
 * `1.0` / `0.0`).
 */
export async function writeChexpertFixture(
  dir: string,
  images: readonly ChestFixtureImage[],
): Promise<void> {
  const rows = [["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", ...CHEXPERT_FINDINGS]];
  for (const [i, img] of images.entries()) {
    const view = img.view ?? "Frontal";
    const path = `CheXpert-v1.0-small/valid/patient${
      64541 + i
    }/study1/view1_${view.toLowerCase()}.jpg`;
    await writeImage(join(dir, path), { size: 40, channels: 1, value: img.value ?? 0.5 });
    const cells = CHEXPERT_FINDINGS.map((f) => (img.findings.includes(f) ? "1.0" : "0.0"));
    rows.push([path, "Female", "70", view, view === "Frontal" ? "AP" : "", ...cells]);
  }
  await Deno.writeTextFile(join(dir, "CheXpert-v1.0-small", "valid.csv"), csv(rows));
}

/**
 * Writes a ChestX-ray14 root: `Data_Entry_2017.csv` (`Finding Labels` joined
 * with `|`, or `No Finding`), `test_list.txt` and `images/*.png`.
 */
export async function writeChestXray14Fixture(
  root: string,
  images: readonly ChestFixtureImage[],
): Promise<void> {
  const rows = [["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "View Position"]];
  const test: string[] = [];
  for (const [i, img] of images.entries()) {
    const name = `${String(i + 1).padStart(8, "0")}_000.png`;
    await writeImage(join(root, "images", name), {
      size: 36,
      channels: 1,
      format: "png",
      value: img.value ?? 0.5,
    });
    const labels = img.findings.length ? img.findings.join("|") : "No Finding";
    rows.push([name, labels, "0", String(i + 1), "PA"]);
    if (img.test) test.push(name);
  }
  await Deno.writeTextFile(join(root, "Data_Entry_2017.csv"), csv(rows));
  await Deno.writeTextFile(join(root, "test_list.txt"), test.map((n) => `${n}\n`).join(""));
}

/** A MIMIC-style report with the given FINDINGS and IMPRESSION (either may be omitted). */
export function mimicReport(sections: { findings?: string; impression?: string }): string {
  const lines = [
    "                                 FINAL REPORT",
    " EXAMINATION:  CHEST (PA AND LAT)",
    " ",
    " INDICATION:  ___F with cough  // eval for pneumonia",
    " ",
    " COMPARISON:  None.",
    " ",
  ];
  if (sections.findings) lines.push(" FINDINGS:", " ", ` ${sections.findings}`, " ");
  if (sections.impression) lines.push(" IMPRESSION:", " ", ` ${sections.impression}`, "");
  return lines.join("\n");
}

/** Formats a CSV from rows (quoting as needed); handy for manifest fixtures. */
export function toCsv(rows: string[][]): string {
  return csv(rows);
}

/**
 * Overrides that make `recipes/nova_mimic.yaml` run small on a fixture in
 * `dir`: the MIMIC tree of {@link writeMimicFixture} at `<dir>/mimic`, a tiny
 * BERT folder (`models/tiny_hf_model.ts`) at `<dir>/models/tiny-bert`; 32-px
 * views, one ViT block, 32 SIGReg slices, batch 8, a one-step warm-up.
 */
export function novaMimicFixtureOverrides(dir: string): string[] {
  return [
    `data.root=${dir}/mimic`,
    `data.reports=${dir}/mimic`,
    "data.size=32",
    "data.concurrency=2",
    "nodes.views.size=32",
    "nodes.image.depth=1",
    "nodes.pred.layers=[32, 32, 64]",
    `nodes.text_raw.model=${dir}/models/tiny-bert`,
    "losses[1].slices=32",
    "train.batch=8",
    "train.schedule.warmup=1",
  ];
}
