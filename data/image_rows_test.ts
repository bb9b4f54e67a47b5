import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { BatchOptions } from "../core/types.ts";
import { BadInputError, BadInputLog } from "./bad_input.ts";
import { toCsv, writeImage } from "./fixtures.ts";
import { imagesInSeveralSplits, mergeCaptions, rowsByImage } from "./image_rows.ts";
import { createManifestSource, type ManifestParams } from "./manifest.ts";

await tf.setBackend("cpu");

const record = (path: string, caption: string, label = -1) => ({
  path,
  captions: [caption],
  label,
});

Deno.test("image rows: grouped by path in first-appearance order; merged captions", () => {
  const rows = [
    record("b.jpg", "b one"),
    record("a.jpg", "a one"),
    record("b.jpg", "b two"),
    record("a.jpg", "a one"),
    record("c.jpg", "c one"),
  ];
  assert.deepEqual(rowsByImage(rows), [[0, 2], [1, 3], [4]]);
  const log = new BadInputLog("m", { policy: "skip" });
  assert.deepEqual(mergeCaptions(rows, log), [
    { path: "b.jpg", captions: ["b one", "b two"], label: -1 },
    { path: "a.jpg", captions: ["a one"], label: -1 },
    { path: "c.jpg", captions: ["c one"], label: -1 },
  ]);
  assert.equal(log.total, 0);
});

Deno.test("image rows: a row disagreeing on the label is a bad_label (skipped, or fails)", () => {
  const rows = [record("a.jpg", "a cat", 0), record("a.jpg", "a dog", 1), record("a.jpg", "a", 0)];
  const log = new BadInputLog("m", { policy: "skip" });
  assert.deepEqual(mergeCaptions(rows, log), [
    { path: "a.jpg", captions: ["a cat", "a"], label: 0 },
  ]);
  assert.deepEqual(log.summary().by_reason, { bad_label: 1 });
  assert.throws(
    () => mergeCaptions(rows, new BadInputLog("m", { policy: "fail" })),
    (e) =>
      e instanceof BadInputError &&
      /a\.jpg.*label 1, an earlier row 0; rows naming one image must agree/.test(e.message),
  );
});

/** 6 flat JPEGs (intensity 0.1 + 0.1·i), three caption rows each: "image i, caption c". */
async function captionRows(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "novalab_rows_" });
  const rows = [["file", "caption"]];
  for (let i = 0; i < 6; i++) {
    await writeImage(`${dir}/${i}.jpg`, { size: 8, value: 0.1 + 0.1 * i, channels: 1 });
  }
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 6; i++) rows.push([`${i}.jpg`, `image ${i}, caption ${c}`]);
  }
  await Deno.writeTextFile(`${dir}/captions.csv`, toCsv(rows));
  return dir;
}

const params = (dir: string): ManifestParams => ({
  path: `${dir}/captions.csv`,
  image: "file",
  text: "caption",
  filter: [],
  size: 8,
  channels: 1,
  fit: "cover",
  concurrency: 4,
  bad_input: "fail",
  val: 0.34,
  test: 0,
});

/** Every caption of a split read in order, as batch `epoch` (each epoch is one batch). */
async function captionsOf(
  source: Awaited<ReturnType<typeof createManifestSource>>,
  split: string,
  epoch = 0,
): Promise<string[]> {
  const size = source.splits[split]!.size;
  const options: BatchOptions = { batchSize: size, seed: 0, shuffle: false, dropLast: false };
  const batch = await source.batch(split, epoch, options);
  batch.image.dispose();
  return batch.caption;
}

const imageOf = (caption: string) => caption.split(",")[0]!;

Deno.test("manifest: a val fraction holds out images, never some rows of an image", async () => {
  const dir = await captionRows();
  try {
    const source = await createManifestSource(params(dir), { seed: 3 });
    // 0.34 of 6 images: 2 images, their 3 rows each; the 4 others' 12 rows train.
    assert.deepEqual(source.splits, { train: { size: 12 }, val: { size: 6 } });
    const train = new Set((await captionsOf(source, "train")).map(imageOf));
    const val = new Set((await captionsOf(source, "val")).map(imageOf));
    assert.equal(train.size, 4);
    assert.equal(val.size, 2);
    assert.ok([...val].every((image) => !train.has(image)), "no image in both splits");
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest merge_captions: one training sample per image, its caption drawn per epoch", async () => {
  const dir = await captionRows();
  try {
    const plain = await createManifestSource(params(dir), { seed: 3 });
    const merged = await createManifestSource({ ...params(dir), merge_captions: true }, {
      seed: 3,
    });
    // The same images in each split; train merges, val keeps a row per caption.
    assert.deepEqual(merged.splits, { train: { size: 4 }, val: { size: 6 } });
    assert.deepEqual(await captionsOf(merged, "val"), await captionsOf(plain, "val"));
    const seen = new Map<string, Set<string>>();
    for (let epoch = 0; epoch < 12; epoch++) {
      // Each epoch (one batch): every training image once, with one of its captions.
      const captions = await captionsOf(merged, "train", epoch);
      assert.equal(new Set(captions.map(imageOf)).size, 4);
      for (const c of captions) {
        if (!seen.has(imageOf(c))) seen.set(imageOf(c), new Set());
        seen.get(imageOf(c))!.add(c);
      }
    }
    assert.deepEqual(
      [...seen.keys()].sort(),
      [...new Set((await captionsOf(plain, "train")).map(imageOf))].sort(),
    );
    for (const [image, captions] of seen) {
      assert.ok(captions.size >= 2, `${image}: captions vary over epochs (${[...captions]})`);
    }
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("manifest: a split column that puts one image in two splits is warned of", async () => {
  const dir = await captionRows();
  try {
    const rows = [["file", "caption", "split"], ["0.jpg", "a", "train"], ["1.jpg", "b", "train"]];
    rows.push(["0.jpg", "c", "test"], ["2.jpg", "d", "test"]);
    await Deno.writeTextFile(`${dir}/split.csv`, toCsv(rows));
    assert.deepEqual(
      imagesInSeveralSplits({ train: [record("0.jpg", "a")], test: [record("0.jpg", "c")] }),
      new Map([["0.jpg", ["train", "test"]]]),
    );
    const warnings: string[] = [];
    const original = console.warn;
    console.warn = (...parts: unknown[]) => warnings.push(parts.join(" "));
    try {
      await createManifestSource(
        { ...params(dir), path: `${dir}/split.csv`, split: "split", val: 0 },
        { seed: 0 },
      );
    } finally {
      console.warn = original;
    }
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /split: 1 image in more than one split \(e\.g\. .*0\.jpg: train, test\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
