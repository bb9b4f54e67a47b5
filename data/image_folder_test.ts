import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { BatchOptions } from "../core/types.ts";
import type { FileSourceParams } from "./assemble.ts";
import { writeImage } from "./fixtures.ts";
import { createImageFolderSource, type ImageFolderParams } from "./image_folder.ts";

await tf.setBackend("cpu");
const common: FileSourceParams = {
  size: 6,
  channels: 1,
  fit: "cover",
  concurrency: 2,
  bad_input: "skip",
  val: 0,
  test: 0,
};
const params = (root: string): ImageFolderParams => ({
  ...common,
  root,
  captions: ["a photo of a {}.", "a {} picture."],
  extensions: [".jpg", ".png"],
});
const all: BatchOptions = { batchSize: 100, seed: 0, shuffle: false, dropLast: false };

Deno.test("image_folder: class-per-folder with templates, seeded val and held-out classes", async () => {
  const root = await Deno.makeTempDir({ prefix: "novalab_folder_" });
  try {
    for (const [c, cls] of ["cat", "dog", "n0123"].entries()) {
      for (let i = 0; i < 4; i++) {
        await writeImage(`${root}/${cls}/${i}.${i % 2 ? "png" : "jpg"}`, {
          size: 10,
          value: 0.2 + 0.3 * c,
        });
      }
    }
    await Deno.writeTextFile(`${root}/cat/notes.txt`, "not an image");
    const p = { ...params(root), rename: { n0123: "fish" } };
    const src = await createImageFolderSource(p, { seed: 0 });
    assert.deepEqual(src.classNames, ["cat", "dog", "fish"]);
    assert.deepEqual(src.splits, { train: { size: 12 } });
    assert.deepEqual(src.imageShape, [6, 6, 1]);
    const b = await src.batch("train", 0, all);
    const means = tf.tidy(() => tf.mean(b.image, [1, 2, 3]).dataSync());
    b.label.forEach((l, j) => assert.ok(Math.abs(means[j]! - (0.2 + 0.3 * l)) < 0.02));
    b.caption.forEach((c, j) => {
      const name = src.classNames[b.label[j]!];
      assert.ok(c === `a photo of a ${name}.` || c === `a ${name} picture.`, c);
    });
    assert.equal(new Set(b.caption.map((c) => c.startsWith("a photo"))).size, 2);
    b.image.dispose();
    const held = await createImageFolderSource({ ...p, test: 0.25, held_out_classes: ["fish"] }, {
      seed: 1,
    });
    const size = (k: string) => held.splits[k]?.size ?? 0;
    assert.deepEqual(Object.keys(held.splits).sort(), [
      "test",
      "test_seen",
      "test_unseen",
      "train",
    ]);
    assert.equal(size("test"), 3);
    assert.equal(size("test_seen") + size("test_unseen"), 3);
    assert.equal(size("train") + size("test_seen"), 8, "every seen sample is in train or test");
    const t = await held.batch("train", 0, all);
    assert.ok(t.label.every((l) => l !== 2), "train never sees the held-out class");
    const u = await held.batch("test_unseen", 0, all);
    assert.ok(u.label.every((l) => l === 2));
    tf.dispose([t.image, u.image]);
    await assert.rejects(
      createImageFolderSource({ ...p, held_out_classes: ["shark"] }, { seed: 0 }),
      /unknown class "shark"; expected names from: cat, dog, fish/,
    );
    await assert.rejects(
      createImageFolderSource({ ...p, classes: ["cat", "cow"] }, { seed: 0 }),
      /class folder "cow" is not under .*expected one of: cat, dog, n0123/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("image_folder: split folders (train/val/test) keep labels consistent", async () => {
  const root = await Deno.makeTempDir({ prefix: "novalab_folder_" });
  try {
    await writeImage(`${root}/train/a/0.jpg`, { size: 8 });
    await writeImage(`${root}/train/b/0.jpg`, { size: 8 });
    await writeImage(`${root}/train/b/1.jpg`, { size: 8 });
    await writeImage(`${root}/validation/b/0.jpg`, { size: 8 });
    const src = await createImageFolderSource(params(root), { seed: 0 });
    assert.deepEqual(src.splits, { train: { size: 3 }, val: { size: 1 } });
    const v = await src.batch("val", 0, all);
    assert.deepEqual([...v.label], [1]);
    v.image.dispose();
    await assert.rejects(
      createImageFolderSource(params(`${root}/nope`), { seed: 0 }),
      /cannot read folder ".*nope"/,
    );
    const carved = await createImageFolderSource({ ...params(root), test: 0.34 }, { seed: 0 });
    assert.deepEqual(carved.splits, { train: { size: 2 }, test: { size: 1 }, val: { size: 1 } });
    await assert.rejects(
      createImageFolderSource({ ...params(root), val: 0.3 }, { seed: 0 }),
      /val: 0\.3 asks for a seeded val split but the source already has "val" \(1 samples\)/,
    );
    // A stray folder beside the splits: refused (it read as "no usable training samples").
    await Deno.mkdir(`${root}/extra`);
    await assert.rejects(
      createImageFolderSource(params(root), { seed: 0 }),
      /holds split folders \(train, validation\) beside other folders \(extra\)/,
    );
    await Deno.remove(`${root}/extra`);
    // A class folder without images: refused, naming it (it made a class of 0 samples).
    await Deno.mkdir(`${root}/train/c/nested`, { recursive: true });
    await writeImage(`${root}/train/c/nested/0.jpg`, { size: 8 });
    await assert.rejects(
      createImageFolderSource(params(root), { seed: 0 }),
      /class folder\(s\) c under .* hold no image ending in .*images in subfolders are not read/,
    );
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});
