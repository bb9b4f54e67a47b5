import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { BatchOptions } from "../core/types.ts";
import { BadInputError } from "./bad_input.ts";
import type { FileSourceParams } from "./assemble.ts";
import { toCsv, writeImage, writeTruncatedJpeg } from "./fixtures.ts";
import { createManifestSource, type ManifestParams } from "./manifest.ts";

await tf.setBackend("cpu");
const common: FileSourceParams = {
  size: 8,
  channels: 3,
  fit: "cover",
  concurrency: 4,
  bad_input: "skip",
  val: 0,
  test: 0,
};
const inOrder: BatchOptions = { batchSize: 4, seed: 0, shuffle: false, dropLast: false };
const value = (i: number) => 0.1 + 0.05 * i;

/** Mean intensity of each image of a batch → the fixture index it encodes. */
function imageIds(image: tf.Tensor4D): number[] {
  const m = tf.tidy(() => tf.mean(image, [1, 2, 3]));
  const out = [...m.dataSync()].map((v) => Math.round((v - 0.1) / 0.05) + 0);
  m.dispose();
  return out;
}

/** 12 images in imgs/, a manifest with views, labels and splits; rows 12+ are broken. */
async function fixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "novalab_manifest_" });
  const rows = [["image_path", "report", "finding", "ViewPosition", "split"]];
  for (let i = 0; i < 12; i++) {
    await writeImage(`${dir}/imgs/${i}.jpg`, { size: 12, value: value(i) });
    const view = i % 4 === 3 ? "LATERAL" : i % 2 ? "AP" : "PA";
    rows.push([
      `imgs/${i}.jpg`,
      `report ${i}, "quoted"`,
      i % 3 ? "normal" : "effusion",
      view,
      i < 8 ? "train" : "validate",
    ]);
  }
  await Deno.writeTextFile(`${dir}/m.csv`, toCsv(rows));
  return dir;
}

const base = (dir: string): ManifestParams => ({
  ...common,
  path: `${dir}/m.csv`,
  image: "image_path",
  text: "report",
  label: "finding",
  split: "split",
  filter: ["ViewPosition in [PA, AP]"],
});

Deno.test("manifest: CSV with filter, labels, split column and relative paths", async () => {
  const dir = await fixture();
  try {
    const src = await createManifestSource(base(dir), { seed: 0 });
    // LATERAL rows 3, 7, 11 filtered out; "validate" → val.
    assert.deepEqual(src.splits, { train: { size: 6 }, val: { size: 3 } });
    assert.deepEqual(src.classNames, ["effusion", "normal"]);
    assert.deepEqual(src.imageShape, [8, 8, 3]);
    assert.equal(src.name, "m");
    const b = await src.batch("train", 0, inOrder);
    assert.deepEqual(imageIds(b.image), [0, 1, 2, 4]);
    assert.deepEqual(b.caption, [
      'report 0, "quoted"',
      'report 1, "quoted"',
      'report 2, "quoted"',
      'report 4, "quoted"',
    ]);
    assert.deepEqual([...b.label], [0, 1, 1, 1]);
    assert.deepEqual([...b.index], [0, 1, 2, 3]);
    const last = await src.batch("train", 1, inOrder);
    assert.deepEqual(imageIds(last.image), [5, 6]);
    const v = await src.batch("val", 0, inOrder);
    assert.deepEqual(imageIds(v.image), [8, 9, 10]);
    tf.dispose([b.image, last.image, v.image]);
    assert.equal(src.badInputs().total, 0);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest: shuffled batches are deterministic, differ per epoch, cover the split", async () => {
  const dir = await fixture();
  try {
    const p = { ...base(dir), filter: [], split: undefined, val: 0.25 };
    const a = await createManifestSource(p, { seed: 5 });
    const b = await createManifestSource(p, { seed: 5 });
    assert.deepEqual(a.splits, { train: { size: 9 }, val: { size: 3 } });
    const o: BatchOptions = { batchSize: 3, seed: 1, shuffle: true, dropLast: true };
    const before = tf.memory().numTensors;
    const ids: number[] = [];
    for (let k = 0; k < 3; k++) {
      const x = await a.batch("train", k, o);
      const y = await b.batch("train", k, o);
      assert.deepEqual(x.index, y.index);
      assert.deepEqual(x.caption, y.caption);
      assert.deepEqual(imageIds(x.image), imageIds(y.image));
      ids.push(...imageIds(x.image));
      tf.dispose([x.image, y.image]);
    }
    const val = await a.batch("val", 0, { ...inOrder, batchSize: 3 });
    const all = [...ids, ...imageIds(val.image)].sort((p, q) => p - q);
    assert.deepEqual(all, [...Array(12).keys()]);
    val.image.dispose();
    const e0 = await a.batch("train", 0, o);
    const e1 = await a.batch("train", 3, o);
    assert.notDeepEqual(e0.index, e1.index);
    tf.dispose([e0.image, e1.image]);
    assert.equal(tf.memory().numTensors, before);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest: bad inputs are skipped, counted and summarised (skip policy)", async () => {
  const dir = await fixture();
  try {
    await Deno.remove(`${dir}/imgs/1.jpg`); // missing file
    await writeTruncatedJpeg(`${dir}/imgs/2.jpg`); // truncated JPEG
    const text = await Deno.readTextFile(`${dir}/m.csv`);
    await Deno.writeTextFile(
      `${dir}/m.csv`,
      text + "imgs/0.jpg,,normal,PA,train\n" + // empty caption (line 14)
        "imgs/0.jpg,too,many,cells,train,x\n" + // unreadable row (line 15)
        "imgs/0.jpg,fine,pneumonia,PA,train\n", // unknown label (line 16)
    );
    const src = await createManifestSource({ ...base(dir), classes: ["effusion", "normal"] }, {
      seed: 0,
    });
    assert.deepEqual(src.splits, { train: { size: 6 }, val: { size: 3 } });
    const b = await src.batch("train", 0, inOrder);
    // Slots of 1 (missing) and 2 (truncated) are filled by the next usable sample, 4;
    // reading in order they are labelled -1 so metrics skip them.
    assert.deepEqual(imageIds(b.image), [0, 4, 4, 4]);
    assert.deepEqual([...b.label], [0, -1, -1, 1]);
    b.image.dispose();
    const s = src.badInputs();
    assert.equal(s.policy, "skip");
    assert.equal(s.total, 5);
    assert.deepEqual(s.by_reason, {
      empty_caption: 1,
      bad_row: 1,
      bad_label: 1,
      missing_file: 1,
      decode_error: 1,
    });
    const paths = s.first.map((r) => r.path);
    assert.ok(paths.includes(`${dir}/m.csv:14`) && paths.includes(`${dir}/m.csv:15`));
    assert.ok(paths.includes(`${dir}/imgs/1.jpg`) && paths.includes(`${dir}/imgs/2.jpg`));
    // Met again in a later epoch: counted once.
    (await src.batch("train", 0, { ...inOrder, shuffle: true })).image.dispose();
    (await src.batch("train", 2, inOrder)).image.dispose();
    assert.equal(src.badInputs().total, 5);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest: fail policy stops at the first bad input, naming it", async () => {
  const dir = await fixture();
  try {
    const fail = { ...base(dir), bad_input: "fail" as const };
    await Deno.writeTextFile(`${dir}/m.csv`, "imgs/0.jpg,   ,normal,PA,train\n", { append: true });
    await assert.rejects(
      createManifestSource(fail, { seed: 0 }),
      (e: Error) => e instanceof BadInputError && /m\.csv:14 \(empty caption\)/.test(e.message),
    );
    const text = (await Deno.readTextFile(`${dir}/m.csv`)).split("\n").slice(0, 13).join("\n");
    await Deno.writeTextFile(`${dir}/m.csv`, text + "\nimgs/0.jpg,a,b\n");
    await assert.rejects(createManifestSource(fail, { seed: 0 }), /m\.csv:14 \(bad row\).*column/i);
    await Deno.writeTextFile(`${dir}/m.csv`, text + "\n");
    await writeTruncatedJpeg(`${dir}/imgs/4.jpg`);
    const src = await createManifestSource(fail, { seed: 0 });
    await assert.rejects(
      src.batch("train", 0, inOrder),
      /imgs\/4\.jpg \(decode error\).*bad_input: skip/,
    );
    await Deno.remove(`${dir}/imgs/5.jpg`);
    await assert.rejects(src.batch("train", 1, inOrder), /imgs\/5\.jpg \(missing file\)/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest: JSONL, bad JSON lines, and clear configuration errors", async () => {
  const dir = await fixture();
  try {
    const lines = [0, 1, 2].map((i) => JSON.stringify({ file: `imgs/${i}.jpg`, text: `t${i}` }));
    await Deno.writeTextFile(`${dir}/m.jsonl`, [...lines, "{oops", "[1]", ""].join("\n"));
    const p: ManifestParams = {
      ...common,
      path: `${dir}/m.jsonl`,
      image: "file",
      text: "text",
      filter: [],
    };
    const src = await createManifestSource(p, { seed: 0 });
    assert.deepEqual(src.splits, { train: { size: 3 } });
    assert.deepEqual(src.classNames, []);
    const b = await src.batch("train", 0, inOrder);
    assert.deepEqual(b.caption, ["t0", "t1", "t2"]);
    assert.deepEqual([...b.label], [-1, -1, -1]);
    b.image.dispose();
    assert.deepEqual(src.badInputs().first.map((r) => r.path), [
      `${dir}/m.jsonl:4`,
      `${dir}/m.jsonl:5`,
    ]);
    await assert.rejects(
      createManifestSource({ ...p, text: "caption" }, { seed: 0 }),
      /manifest column "caption" is not a column of .*m\.jsonl; expected one of: file, text/,
    );
    await assert.rejects(
      createManifestSource({ ...base(dir), filter: ["View in [PA]"] }, { seed: 0 }),
      /column "View" is not in .*expected one of: image_path, report, finding, ViewPosition, split/,
    );
    await assert.rejects(
      createManifestSource({ ...base(dir), filter: ["ViewPosition ~ PA"] }, { seed: 0 }),
      /filter "ViewPosition ~ PA": no operator found; expected "<column> in \[a, b\]"/,
    );
    await assert.rejects(
      createManifestSource({ ...p, path: `${dir}/m.txt` }, { seed: 0 }),
      /unknown format; expected a file ending in \.csv, \.tsv, \.jsonl/,
    );
    await assert.rejects(
      createManifestSource({ ...base(dir), filter: ["ViewPosition == XX"] }, { seed: 0 }),
      /no usable training samples/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest: an unknown split value, a non-text JSON cell and a limit on no split are refused", async () => {
  const dir = await fixture();
  try {
    const row = (i: number, extra: Record<string, unknown>) =>
      JSON.stringify({ file: `imgs/${i}.jpg`, text: `t${i}`, split: "train", ...extra });
    const lines = [
      row(0, {}),
      row(1, { split: "Validate" }), // an alias: val
      row(2, { split: "tset" }), // a typo: it made a split "tset"
      row(3, { split: "" }), // empty: it made a split ""
      row(4, { text: { en: "a" } }), // it read "[object Object]"
      row(5, { text: null }),
      row(6, { file: ["a", "b"] }),
      row(7, { text: 7 }), // a number reads as text
    ];
    await Deno.writeTextFile(`${dir}/m.jsonl`, lines.join("\n"));
    const p: ManifestParams = {
      ...common,
      path: `${dir}/m.jsonl`,
      image: "file",
      text: "text",
      split: "split",
      filter: [],
    };
    const src = await createManifestSource(p, { seed: 0 });
    assert.deepEqual(src.splits, { train: { size: 2 }, val: { size: 1 } });
    const details = src.badInputs().first.map((r) => `${r.path.split(":").at(-1)} ${r.detail}`);
    assert.match(details[0]!, /^3 split "tset" is not train, val .* or test .*filter such rows/);
    assert.match(details[1]!, /^4 split "" is not train/);
    assert.match(details[2]!, /^5 "text" is \{"en":"a"\}; expected text/);
    assert.match(details[3]!, /^6 "text" is null; expected text/);
    assert.match(details[4]!, /^7 "file" is \["a","b"\]; expected text/);
    await assert.rejects(
      createManifestSource({ ...p, limit: { tset: 1 } }, { seed: 0 }),
      /limit\.tset: the source has no split "tset"; its splits: train, val/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
