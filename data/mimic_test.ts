import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { BatchOptions } from "../core/types.ts";
import type { FileSourceParams } from "./assemble.ts";
import { CHEXPERT_FINDINGS } from "./chexpert.ts";
import type { MultiLabelBatch } from "./file_source.ts";
import { type MimicFixtureStudy, mimicReport, writeMimicFixture } from "./fixtures.ts";
import { createMimicSource, type MimicParams, studyDir } from "./mimic.ts";

await tf.setBackend("cpu");
const common: FileSourceParams = {
  size: 16,
  channels: 3,
  fit: "cover",
  concurrency: 3,
  bad_input: "skip",
  val: 0,
  test: 0,
};
const inOrder: BatchOptions = { batchSize: 8, seed: 0, shuffle: false, dropLast: false };

const STUDIES: MimicFixtureStudy[] = [
  {
    subject: "10000032",
    study: "50414267",
    split: "train",
    report: mimicReport({ findings: "Clear lungs.", impression: "No acute process." }),
    images: [{ dicom: "d1-pa", view: "PA", value: 0.2 }, {
      dicom: "d1-lat",
      view: "LATERAL",
      value: 0.3,
    }],
    labels: { "No Finding": "1.0" },
  },
  {
    subject: "10000032",
    study: "53189527",
    split: "train",
    report: mimicReport({ findings: "Small left effusion." }),
    images: [{ dicom: "d2-ap", view: "AP", value: 0.4 }],
    labels: { "Pleural Effusion": "1.0", Edema: "-1.0" },
  },
  {
    subject: "11000011",
    study: "51000001",
    split: "train",
    report: "WET READ: ___\n\nPortable chest.\n\nMild cardiomegaly.\n",
    images: [{ dicom: "d3-pa", view: "PA", value: 0.5 }],
  },
  {
    subject: "11000011",
    study: "51000002",
    split: "validate",
    report: mimicReport({ impression: "Stable." }),
    images: [{ dicom: "d4-pa", view: "PA", value: 0.6 }],
  },
  {
    subject: "12000012",
    study: "52000001",
    split: "test",
    report: mimicReport({ impression: "Pneumothorax." }),
    images: [{ dicom: "d5-pa", view: "PA", broken: "truncated" }],
  },
  {
    subject: "12000012",
    study: "52000002",
    split: "test",
    report: mimicReport({ impression: "Edema." }),
    images: [{ dicom: "d9-ap", view: "AP", value: 0.7 }],
    labels: { Edema: "1.0" },
  },
  { subject: "13000013", study: "53000001", split: "train", images: [{ dicom: "d6", view: "PA" }] },
  {
    subject: "13000013",
    study: "53000002",
    split: "train",
    report: "   \n\n  ",
    images: [{ dicom: "d7", view: "PA" }],
  },
  {
    subject: "14000014",
    study: "54000001",
    split: "train",
    report: mimicReport({ impression: "Lost image." }),
    images: [{ dicom: "d8-pa", view: "PA", broken: "missing" }],
  },
];

function params(root: string): MimicParams {
  return {
    ...common,
    root,
    views: ["PA", "AP"],
    filter: [],
    section: "impression",
    fallback: ["findings", "last_paragraph"],
    findings: [...CHEXPERT_FINDINGS],
    uncertain: "negative",
    blank: "negative",
  };
}

function means(b: MultiLabelBatch): number[] {
  return tf.tidy(() =>
    [...tf.mean(b.image, [1, 2, 3]).dataSync()].map((v) => Math.round(v * 10) / 10)
  );
}

Deno.test("mimic_cxr: layout, view filter, official split, sections and labels", async () => {
  const root = await Deno.makeTempDir({ prefix: "novalab_mimic_" });
  try {
    await writeMimicFixture(root, STUDIES);
    const src = await createMimicSource(params(root), { seed: 0 });
    assert.deepEqual(src.splits, { train: { size: 4 }, val: { size: 1 }, test: { size: 2 } });
    assert.deepEqual(src.labelNames, CHEXPERT_FINDINGS);
    const b = await src.batch("train", 0, inOrder) as MultiLabelBatch;
    assert.deepEqual(b.caption.slice(0, 3), [
      "No acute process.",
      "Small left effusion.",
      "Mild cardiomegaly.",
    ]);
    // d8 is missing on disk: its slot holds the next usable image (d1, wrapping) at inference.
    assert.deepEqual(means(b), [0.2, 0.4, 0.5, 0.2]);
    const lab = (j: number, f: string) => b.labels[j * 14 + CHEXPERT_FINDINGS.indexOf(f)];
    assert.equal(lab(0, "No Finding"), 1);
    assert.equal(lab(1, "Pleural Effusion"), 1);
    assert.equal(lab(1, "Edema"), 0, "uncertain counted negative by default");
    assert.ok(Number.isNaN(lab(2, "Edema")), "a study without label row is all NaN");
    assert.ok(Number.isNaN(lab(3, "No Finding")), "a skipped slot is NaN when reading in order");
    b.image.dispose();
    const t = await src.batch("test", 0, inOrder) as MultiLabelBatch;
    assert.deepEqual(means(t), [0.7, 0.7]); // d5 is a truncated JPEG
    assert.deepEqual(t.caption, ["Edema.", "Edema."]);
    t.image.dispose();
    const s = src.badInputs();
    assert.deepEqual(s.by_reason, { missing_file: 2, empty_caption: 1, decode_error: 1 });
    const paths = s.first.map((r) => r.path.slice(root.length + 1));
    assert.ok(paths.includes(`${studyDir("13000013", "53000001")}.txt`), paths.join(" "));
    assert.ok(paths.includes(`${studyDir("13000013", "53000002")}.txt`));
    assert.ok(paths.includes(`${studyDir("14000014", "54000001")}/d8-pa.jpg`));
    assert.ok(paths.includes(`${studyDir("12000012", "52000001")}/d5-pa.jpg`));
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("mimic_cxr: all views, findings without fallback, label policy, fail policy", async () => {
  const root = await Deno.makeTempDir({ prefix: "novalab_mimic_" });
  try {
    await writeMimicFixture(root, STUDIES);
    const allViews = await createMimicSource({ ...params(root), views: [] }, { seed: 0 });
    assert.equal(allViews.splits.train!.size, 5);
    const findings = await createMimicSource({
      ...params(root),
      section: "findings",
      fallback: [],
      uncertain: "positive",
    }, { seed: 0 });
    assert.deepEqual(findings.splits, { train: { size: 2 } }); // only d1, d2 have FINDINGS
    const f = await findings.batch("train", 0, inOrder) as MultiLabelBatch;
    assert.deepEqual(f.caption, ["Clear lungs.", "Small left effusion."]);
    assert.equal(f.labels[14 + CHEXPERT_FINDINGS.indexOf("Edema")], 1, "uncertain → positive");
    f.image.dispose();
    await assert.rejects(
      createMimicSource({ ...params(root), bad_input: "fail" }, { seed: 0 }),
      /53000001\.txt \(missing file\)/,
    );
    await assert.rejects(
      createMimicSource({ ...params(root), filter: ["Projection in [PA]"] }, { seed: 0 }),
      /column "Projection" is not in .*metadata\.csv; expected one of: dicom_id, subject_id/,
    );
    await Deno.remove(`${root}/mimic-cxr-2.0.0-split.csv`);
    await assert.rejects(
      createMimicSource(params(root), { seed: 0 }),
      /"mimic-cxr-2\.0\.0-split\.csv" \(or "mimic-cxr-2\.0\.0-split\.csv\.gz"\) not found/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
