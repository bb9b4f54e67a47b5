import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { FileSourceParams } from "./assemble.ts";
import {
  CHESTXRAY14_FINDINGS,
  chestxray14Targets,
  createChestXray14Source,
} from "./chestxray14.ts";
import {
  CHEXPERT_FINDINGS,
  chexpertRoot,
  createChexpertSource,
  findingsCaption,
  labelRow,
  labelTarget,
} from "./chexpert.ts";
import type { MultiLabelBatch } from "./file_source.ts";
import { toCsv, writeImage } from "./fixtures.ts";

await tf.setBackend("cpu");
const common: FileSourceParams = {
  size: 8,
  channels: 1,
  fit: "cover",
  concurrency: 2,
  bad_input: "skip",
  val: 0,
  test: 0,
};

Deno.test("chexpert: label cells under the uncertain and blank policies", () => {
  const neg = { uncertain: "negative", blank: "negative" } as const;
  assert.equal(labelTarget("1.0", neg), 1);
  assert.equal(labelTarget("0.0", neg), 0);
  assert.equal(labelTarget("-1.0", neg), 0);
  assert.equal(labelTarget("", neg), 0);
  assert.equal(labelTarget("-1", { ...neg, uncertain: "positive" }), 1);
  assert.ok(Number.isNaN(labelTarget(-1, { ...neg, uncertain: "ignore" })));
  assert.ok(Number.isNaN(labelTarget(" ", { ...neg, blank: "ignore" })));
  assert.equal(labelTarget("2", neg), undefined);
  assert.equal(labelTarget("yes", neg), undefined);
  const row = labelRow({ A: "1.0", B: "-1.0", C: "" }, {
    findings: ["A", "B", "C"],
    policy: { uncertain: "ignore", blank: "negative" },
  });
  assert.ok(row instanceof Float32Array);
  assert.deepEqual([...row], [1, NaN, 0]);
  assert.equal(
    labelRow({ A: "0.5" }, { findings: ["A"], policy: neg }),
    '"A" is "0.5"; expected 1, 0, -1 or blank',
  );
  assert.equal(CHEXPERT_FINDINGS.length, 14);
  assert.equal(
    findingsCaption(Float32Array.of(1, 1, 0), ["No Finding", "Edema", "Fracture"]),
    "edema",
  );
  assert.equal(findingsCaption(Float32Array.of(0, NaN), ["Edema", "Fracture"]), "no finding");
  assert.equal(
    chexpertRoot("/d/CheXpert-v1.0-small/valid.csv", "CheXpert-v1.0-small/valid/p1/s1/v.jpg"),
    "/d",
  );
  assert.equal(chexpertRoot("/d/labels.csv", "images/1.jpg"), "/d");
});

Deno.test("chexpert: the official CSV layout → images, [B, 14] labels and captions", async () => {
  const dir = await Deno.makeTempDir({ prefix: "novalab_chexpert_" });
  try {
    const root = `${dir}/CheXpert-v1.0-small`;
    const header = ["Path", "Sex", "Age", "Frontal/Lateral", "AP/PA", ...CHEXPERT_FINDINGS];
    const cells = (over: Record<string, string>) => CHEXPERT_FINDINGS.map((f) => over[f] ?? "");
    const rows = [header];
    const specs: [string, Record<string, string>][] = [
      ["Frontal", { "No Finding": "1.0" }],
      ["Frontal", { Cardiomegaly: "1.0", Edema: "-1.0", "Pleural Effusion": "0.0" }],
      ["Lateral", { Fracture: "1.0" }],
      ["Frontal", { Edema: "7" }], // bad label
    ];
    for (const [i, [view, over]] of specs.entries()) {
      const path =
        `CheXpert-v1.0-small/valid/patient0000${i}/study1/view1_${view.toLowerCase()}.jpg`;
      await writeImage(`${dir}/${path}`, { size: 16, channels: 1, value: 0.2 * (i + 1) });
      rows.push([path, "Male", "60", view, "PA", ...cells(over)]);
    }
    await Deno.writeTextFile(`${root}/valid.csv`, toCsv(rows));
    const params = {
      ...common,
      csv: `${root}/valid.csv`,
      image: "Path",
      findings: [...CHEXPERT_FINDINGS],
      filter: ["Frontal/Lateral in [Frontal]"],
      uncertain: "ignore" as const,
      blank: "negative" as const,
    };
    const src = await createChexpertSource(params, { seed: 0 });
    assert.deepEqual(src.splits, { test: { size: 2 } });
    assert.deepEqual(src.labelNames, CHEXPERT_FINDINGS);
    assert.deepEqual(src.classNames, []);
    const b = await src.batch("test", 0, {
      batchSize: 2,
      seed: 0,
      shuffle: false,
      dropLast: false,
    }) as MultiLabelBatch;
    assert.deepEqual(b.image.shape, [2, 8, 8, 1]);
    assert.equal(b.labels.length, 2 * 14);
    const at = (j: number, f: string) => b.labels[j * 14 + CHEXPERT_FINDINGS.indexOf(f)];
    assert.equal(at(0, "No Finding"), 1);
    assert.equal(at(0, "Edema"), 0);
    assert.equal(at(1, "Cardiomegaly"), 1);
    assert.ok(Number.isNaN(at(1, "Edema")), "uncertain → NaN under ignore");
    assert.equal(at(1, "Pleural Effusion"), 0);
    assert.deepEqual(b.caption, ["no finding", "cardiomegaly"]);
    assert.deepEqual([...b.label], [-1, -1]);
    b.image.dispose();
    assert.deepEqual(src.badInputs().by_reason, { bad_label: 1 });
    assert.match(src.badInputs().first[0]!.detail, /"Edema" is "7"/);
    const pos = await createChexpertSource({ ...params, uncertain: "positive", filter: [] }, {
      seed: 0,
    });
    const p = await pos.batch("test", 0, {
      batchSize: 3,
      seed: 0,
      shuffle: false,
      dropLast: false,
    }) as MultiLabelBatch;
    assert.equal(p.labels[14 + CHEXPERT_FINDINGS.indexOf("Edema")], 1);
    p.image.dispose();
    await assert.rejects(
      createChexpertSource({ ...params, findings: ["Edema", "Nodule"] }, { seed: 0 }),
      /chexpert column "Nodule" is not a column of .*valid\.csv/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("chestxray14: Data_Entry CSV, pipe-separated findings, official test list", async () => {
  const root = await Deno.makeTempDir({ prefix: "novalab_cxr14_" });
  try {
    const rows = [["Image Index", "Finding Labels", "Follow-up #", "Patient ID", "View Position"]];
    const cells: [string, string, string][] = [
      ["00000001_000.png", "Cardiomegaly|Effusion", "PA"],
      ["00000001_001.png", "No Finding", "AP"],
      ["00000002_000.png", "Pleural_Thickening", "PA"],
      ["00000003_000.png", "Effusion|Unicorn", "PA"],
      ["00000004_000.png", "Mass", "LL"],
    ];
    for (const [i, [name, labels, view]] of cells.entries()) {
      await writeImage(`${root}/images/${name}`, {
        size: 16,
        channels: 1,
        format: "png",
        value: 0.1 * (i + 1),
      });
      rows.push([name, labels, "0", name.slice(0, 8), view]);
    }
    await Deno.writeTextFile(`${root}/Data_Entry_2017.csv`, toCsv(rows));
    await Deno.writeTextFile(`${root}/test_list.txt`, "00000002_000.png\n");
    assert.equal(CHESTXRAY14_FINDINGS.length, 14);
    assert.match(
      String(chestxray14Targets("Effusion|Unicorn", CHESTXRAY14_FINDINGS)),
      /unknown finding "Unicorn"/,
    );
    const src = await createChestXray14Source({
      ...common,
      root,
      findings: [...CHESTXRAY14_FINDINGS],
      filter: ["View Position in [PA, AP]"],
    }, { seed: 0 });
    assert.deepEqual(src.splits, { train: { size: 2 }, test: { size: 1 } });
    const o = { batchSize: 2, seed: 0, shuffle: false, dropLast: false };
    const b = await src.batch("train", 0, o) as MultiLabelBatch;
    assert.deepEqual(b.caption, ["cardiomegaly, effusion", "no finding"]);
    const at = (j: number, f: string) => b.labels[j * 14 + CHESTXRAY14_FINDINGS.indexOf(f)];
    assert.equal(at(0, "Cardiomegaly"), 1);
    assert.equal(at(0, "Effusion"), 1);
    assert.equal(at(0, "Mass"), 0);
    assert.equal(b.labels.subarray(14).reduce((s, v) => s + v, 0), 0);
    const t = await src.batch("test", 0, o);
    assert.deepEqual(t.caption, ["pleural thickening"]);
    tf.dispose([b.image, t.image]);
    assert.deepEqual(src.badInputs().by_reason, { bad_label: 1 });
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
