/**
 * COCO-style retrieval on decoded files: a manifest with several caption rows
 * per JPEG (as COCO's and Flickr30k's caption files are) is scored with
 * `retrieval`'s `match: image` — each file counted once, found by its decoded
 * pixels, every caption a query — against the numbers worked out by hand.
 */
import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { InferenceModel } from "../core/components.ts";
import type { NodeValue } from "../core/types.ts";
import { toCsv, writeImage } from "../data/fixtures.ts";
import { createManifestSource } from "../data/manifest.ts";
import { retrievalEntry } from "../eval/retrieval.ts";

await tf.setBackend("cpu");

/** Image i (i = 0, 1, 2) is a flat field of intensity 0.2 + 0.3·i; its embedding is at angle 60°·i. */
const angle = (deg: number) => [Math.cos(deg * Math.PI / 180), Math.sin(deg * Math.PI / 180)];

/** Captions of image i sit at 60°·i ± a few degrees; "cat 1 odd" sits at 100° (nearer image 2). */
const CAPTIONS: Record<string, number[]> = {
  "cat 0 a": angle(2),
  "cat 0 b": angle(-3),
  "cat 1 a": angle(58),
  "cat 1 odd": angle(100),
  "cat 2 a": angle(121),
  "cat 2 b": angle(119),
  "cat 2 c": angle(125),
};

/** Embeds an image by its mean intensity (which image it is), a caption by the table. */
const model: InferenceModel = {
  run(target: string, batch: Record<string, NodeValue>) {
    if (target === "text") {
      return Promise.resolve(tf.tensor2d((batch.caption as string[]).map((c) => CAPTIONS[c]!)));
    }
    return Promise.resolve(tf.tidy(() => {
      const mean = tf.mean(batch.image as tf.Tensor4D, [1, 2, 3]).arraySync() as number[];
      return tf.tensor2d(mean.map((m) => angle(60 * Math.round((m - 0.2) / 0.3))));
    }));
  },
};

Deno.test("retrieval match image: a manifest with several caption rows per JPEG", async () => {
  const dir = await Deno.makeTempDir({ prefix: "novalab_coco_" });
  try {
    for (let i = 0; i < 3; i++) {
      await writeImage(`${dir}/img/${i}.jpg`, { size: 16, value: 0.2 + 0.3 * i, channels: 1 });
    }
    const rows = [["file", "caption", "split"], ["img/0.jpg", "cat 0 a", "train"]];
    for (const caption of Object.keys(CAPTIONS)) {
      rows.push([`img/${caption.split(" ")[1]}.jpg`, caption, "test"]);
    }
    await Deno.writeTextFile(`${dir}/captions.csv`, toCsv(rows));
    const source = await createManifestSource({
      path: `${dir}/captions.csv`,
      image: "file",
      text: "caption",
      split: "split",
      filter: [],
      size: 8,
      channels: 1,
      fit: "cover",
      concurrency: 4,
      bad_input: "fail",
      val: 0,
      test: 0,
    }, { seed: 0 });
    const params = retrievalEntry.schema.parse({
      image: "image",
      text: "text",
      match: "image",
      limit: 7,
      batch: 3,
    });
    const m = await retrievalEntry.create(params).evaluate(model, source);
    // Image → text: each image's nearest caption is one of its own (0: "cat 0 a" at 2°;
    // 1 at 60°: "cat 1 a" at 58°; 2 at 120°: "cat 2 b" at 119°).
    // Text → image: every caption's nearest image is its own except "cat 1 odd" at 100°,
    // nearer image 2 (20°) than image 1 (40°): rank 2 — t2i R@1 = 6/7, median rank 1.
    assert.deepEqual(m, {
      i2t_r1: 1,
      i2t_r5: 1,
      i2t_r10: 1,
      i2t_median_rank: 1,
      t2i_r1: 6 / 7,
      t2i_r5: 1,
      t2i_r10: 1,
      t2i_median_rank: 1,
      n: 3,
      gallery: 7,
    });
    source.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
