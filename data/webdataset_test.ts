import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { BatchOptions } from "../core/types.ts";
import { expandBraces } from "./braces.ts";
import { writeImage, writeTruncatedJpeg } from "./fixtures.ts";
import { splitMemberName, writeTarShard } from "./tar_samples.ts";
import { createWebDatasetSource, type WebDatasetParams } from "./webdataset.ts";

await tf.setBackend("cpu");
const inOrder: BatchOptions = { batchSize: 4, seed: 0, shuffle: false, dropLast: false };

async function jpeg(dir: string, value: number): Promise<Uint8Array> {
  const path = `${dir}/tmp-${value}.jpg`;
  await writeImage(path, { size: 12, value });
  return await Deno.readFile(path);
}

/** shard-0 and shard-1 hold samples 0–3 and 4–7 (value 0.1 + 0.1·i); test holds 8–9. */
async function fixture(): Promise<string> {
  const dir = await Deno.makeTempDir({ prefix: "novalab_wds_" });
  const sample = async (i: number) => ({
    key: `s${String(i).padStart(4, "0")}`,
    files: (i % 3 === 2
      ? {
        jpg: await jpeg(dir, 0.1 + 0.07 * i),
        json: JSON.stringify({ caption: `json ${i}`, label: "b" }),
      }
      : { jpg: await jpeg(dir, 0.1 + 0.07 * i), txt: `text ${i}`, cls: String(i % 2) }) as Record<
        string,
        Uint8Array | string
      >,
  });
  for (const [s, ids] of [[0, [0, 1, 2, 3]], [1, [4, 5, 6, 7]]] as const) {
    await writeTarShard(`${dir}/train-${s}.tar`, await Promise.all(ids.map(sample)));
  }
  await writeTarShard(`${dir}/test-0.tar`, await Promise.all([8, 9].map(sample)));
  return dir;
}

const params = (dir: string): WebDatasetParams => ({
  shards: { train: `${dir}/train-{0..1}.tar`, test: [`${dir}/test-0.tar`] },
  image_ext: ["jpg", "png"],
  text_ext: "txt",
  json_key: "caption",
  classes: ["a", "b"],
  shuffle_buffer: 3,
  size: 8,
  channels: 3,
  fit: "cover",
  concurrency: 2,
  bad_input: "skip",
});

const ids = (image: tf.Tensor4D) =>
  tf.tidy(() =>
    [...tf.mean(image, [1, 2, 3]).dataSync()].map((v) => Math.round((v - 0.1) / 0.07) + 0)
  );

Deno.test("webdataset: braces and member names", () => {
  assert.deepEqual(expandBraces("s-{000..002}.tar"), ["s-000.tar", "s-001.tar", "s-002.tar"]);
  assert.deepEqual(expandBraces("{a,b}-{1..2}"), ["a-1", "a-2", "b-1", "b-2"]);
  assert.deepEqual(expandBraces("x{0..6..3}"), ["x0", "x3", "x6"]);
  assert.deepEqual(expandBraces("{3..1}"), ["3", "2", "1"]);
  assert.deepEqual(expandBraces("{a,{b,c}d}"), ["a", "bd", "cd"]);
  assert.deepEqual(expandBraces("lit{eral}.tar"), ["lit{eral}.tar"]);
  assert.deepEqual(expandBraces("\\{0..1\\}{0..1}"), ["{0..1}0", "{0..1}1"]);
  assert.throws(() => expandBraces("bad{0..2"), /"\{" at 3 is never closed/);
  assert.deepEqual(splitMemberName("dir/000123.seg.PNG"), ["dir/000123", "seg.png"]);
  assert.equal(splitMemberName("README"), undefined);
});

Deno.test("webdataset: counts, streams in order, labels from .cls and .json", async () => {
  const dir = await fixture();
  try {
    const src = await createWebDatasetSource(params(dir));
    assert.deepEqual(src.splits, { train: { size: 8 }, test: { size: 2 } });
    const b0 = await src.batch("train", 0, inOrder);
    assert.deepEqual(ids(b0.image), [0, 1, 2, 3]);
    assert.deepEqual(b0.caption, ["text 0", "text 1", "json 2", "text 3"]);
    assert.deepEqual([...b0.label], [0, 1, 1, 1]);
    assert.deepEqual([...b0.index], [0, 1, 2, 3]);
    const b1 = await src.batch("train", 1, inOrder);
    assert.deepEqual([...b1.index], [4, 5, 6, 7]);
    const t = await src.batch("test", 0, inOrder);
    assert.deepEqual(t.caption, ["json 8", "text 9"]);
    tf.dispose([b0.image, b1.image, t.image]);
    src.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("webdataset: shuffled epochs are deterministic permutations; jumps replay exactly", async () => {
  const dir = await fixture();
  try {
    const o: BatchOptions = { batchSize: 2, seed: 3, shuffle: true, dropLast: true };
    const a = await createWebDatasetSource(params(dir));
    const epochs: number[][] = [[], []];
    for (let k = 0; k < 8; k++) {
      const b = await a.batch("train", k, o);
      epochs[Math.floor(k / 4)]!.push(...b.index);
      b.image.dispose();
    }
    for (const e of epochs) assert.deepEqual([...e].sort(), [0, 1, 2, 3, 4, 5, 6, 7]);
    assert.notDeepEqual(epochs[0], epochs[1]);
    assert.notDeepEqual(epochs[0], [0, 1, 2, 3, 4, 5, 6, 7]);
    const fresh = await createWebDatasetSource(params(dir));
    const jump = await fresh.batch("train", 6, o); // resume at batch 6 (epoch 1)
    assert.deepEqual([...jump.index], epochs[1]!.slice(4, 6));
    const back = await fresh.batch("train", 1, o); // earlier batch: restarts epoch 0
    assert.deepEqual([...back.index], epochs[0]!.slice(2, 4));
    tf.dispose([jump.image, back.image]);
    a.dispose();
    fresh.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("webdataset: bad members, truncated JPEGs and corrupt shards are skipped or fail", async () => {
  const dir = await fixture();
  try {
    await writeTruncatedJpeg(`${dir}/cut.jpg`);
    await writeTarShard(`${dir}/bad.tar`, [
      { key: "ok1", files: { jpg: await jpeg(dir, 0.1), txt: "fine" } },
      { key: "nocap", files: { jpg: await jpeg(dir, 0.1) } },
      { key: "empty", files: { jpg: await jpeg(dir, 0.1), txt: "  \n" } },
      { key: "cut", files: { jpg: await Deno.readFile(`${dir}/cut.jpg`), txt: "cut" } },
      { key: "ok2", files: { jpg: await jpeg(dir, 0.17), txt: "fine too" } },
    ]);
    const bytes = await Deno.readFile(`${dir}/train-1.tar`);
    await Deno.writeFile(`${dir}/broken.tar`, bytes.subarray(0, 2000));
    const p = {
      ...params(dir),
      classes: undefined,
      shards: [`${dir}/bad.tar`, `${dir}/broken.tar`],
    };
    const src = await createWebDatasetSource(p);
    assert.equal(src.splits.train!.size, 3); // ok1, cut, ok2 (broken.tar yields nothing whole)
    const b = await src.batch("train", 0, inOrder);
    assert.deepEqual(ids(b.image), [0, 1, 1], "the truncated JPEG's slot holds ok2");
    assert.deepEqual(b.caption, ["fine", "fine too", "fine too"]);
    assert.deepEqual([...b.label], [-1, -1, -1]);
    b.image.dispose();
    const s = src.badInputs();
    assert.deepEqual(s.by_reason, { bad_member: 2, empty_caption: 1, decode_error: 1 });
    const where = s.first.map((r) => r.path.slice(dir.length + 1));
    assert.deepEqual(where, ["bad.tar:nocap", "bad.tar:empty", "broken.tar", "bad.tar:cut"]);
    await assert.rejects(
      createWebDatasetSource({ ...p, bad_input: "fail" }),
      /bad\.tar:nocap \(bad member\): no caption \(\.txt or \.json "caption"\)/,
    );
    await assert.rejects(
      createWebDatasetSource({ ...p, shards: `${dir}/missing-{0..1}.tar`, bad_input: "fail" }),
      /missing-0\.tar \(bad member\).*(No such file|not found|ENOENT)/i,
    );
    // An empty or zeroed shard is a bad member, not a shard of no samples.
    await Deno.writeFile(`${dir}/empty.tar`, new Uint8Array(0));
    await Deno.writeFile(`${dir}/zeros.tar`, new Uint8Array(4096));
    for (const name of ["empty.tar", "zeros.tar"]) {
      await assert.rejects(
        createWebDatasetSource({ ...p, shards: `${dir}/${name}`, bad_input: "fail" }),
        new RegExp(`${name} \\(bad member\\): the shard holds no tar members`),
      );
    }
    src.dispose();
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
