import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { writeImage, writeTruncatedJpeg } from "./fixtures.ts";
import { createImageFolderSource, type ImageFolderParams } from "./image_folder.ts";
import { warmDecodedCache } from "./warm_cache.ts";

await tf.setBackend("cpu");

/** Removes `dir`; decodes queued before a failure may still be storing entries for a moment. */
async function removeWhenIdle(dir: string): Promise<void> {
  for (let tries = 0;; tries++) {
    try {
      return await Deno.remove(dir, { recursive: true });
    } catch (e) {
      if (tries > 50) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

function params(root: string, bad: "fail" | "skip"): ImageFolderParams {
  return {
    root,
    captions: ["a {}."],
    extensions: [".jpg"],
    size: 8,
    channels: 3,
    fit: "cover",
    concurrency: 4,
    bad_input: bad,
    val: 0,
    test: 0,
    cache: true,
  };
}

Deno.test("warmDecodedCache: every split's batches, progress per batch, then all hits", async () => {
  const root = await Deno.makeTempDir({ prefix: "novalab_warm_" });
  try {
    for (let i = 0; i < 7; i++) await writeImage(`${root}/data/c${i % 2}/${i}.jpg`, { size: 12 });
    const ctx = { seed: 0, cacheDir: `${root}/cache` };
    const source = await createImageFolderSource(params(`${root}/data`, "fail"), ctx);
    const progress: number[] = [];
    const first = await warmDecodedCache(source, {
      batch: 3,
      onProgress: (_split, done) => progress.push(done),
    });
    assert.deepEqual(progress, [3, 6, 7]);
    assert.deepEqual(first.splits.map((s) => [s.split, s.images]), [["train", 7]]);
    assert.deepEqual([first.stats.stored, first.stats.hits], [7, 0]);
    const again = await createImageFolderSource(params(`${root}/data`, "fail"), ctx);
    assert.deepEqual((await warmDecodedCache(again, { batch: 3 })).stats.hits, 7);
  } finally {
    await Deno.remove(root, { recursive: true });
  }
});

Deno.test("warmDecodedCache: a bad image under bad_input: fail rejects with the file named", async () => {
  const root = await Deno.makeTempDir({ prefix: "novalab_warm_bad_" });
  try {
    for (let i = 0; i < 5; i++) await writeImage(`${root}/data/c/${i}.jpg`, { size: 12 });
    await writeTruncatedJpeg(`${root}/data/c/9_broken.jpg`);
    const source = await createImageFolderSource(params(`${root}/data`, "fail"), {
      seed: 0,
      cacheDir: `${root}/cache`,
    });
    await assert.rejects(warmDecodedCache(source, { batch: 2 }), /9_broken\.jpg/);
  } finally {
    await removeWhenIdle(root);
  }
});
