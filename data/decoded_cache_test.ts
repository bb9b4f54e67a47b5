import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { BatchOptions } from "../core/types.ts";
import { decodedCacheDir, type FileSourceParams } from "./assemble.ts";
import { decodeImage, type DecodeOptions } from "./decode.ts";
import { DecodedImageCache } from "./decoded_cache.ts";
import { greyChannel } from "./decoded_cache_files.ts";
import { decodeCachedInto, formatCacheStats } from "./decoded_cache_use.ts";
import { BadInputLog } from "./bad_input.ts";
import { FileImageSource } from "./file_source.ts";
import { writeImage } from "./fixtures.ts";
import { createImageFolderSource } from "./image_folder.ts";
import { writeTarShard } from "./tar_samples.ts";
import { createWebDatasetSource } from "./webdataset.ts";

await tf.setBackend("cpu");
const decode: DecodeOptions = { height: 9, width: 7, channels: 3, fit: "cover" };

async function withDir(fn: (dir: string) => Promise<void>): Promise<void> {
  const dir = await Deno.makeTempDir({ prefix: "novalab_decoded_cache_" });
  try {
    await fn(dir);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** Decodes `path` through `cache` into a fresh array. */
async function viaCache(
  cache: DecodedImageCache,
  path: string,
  options: DecodeOptions = decode,
): Promise<Float32Array> {
  const out = new Float32Array(options.height * options.width * options.channels);
  await decodeCachedInto(cache, {
    source: { path },
    input: path,
    target: { ...options, out, offset: 0, path },
  });
  return out;
}

const direct = async (path: string, options: DecodeOptions = decode) =>
  decodeImage(await Deno.readFile(path), options);

Deno.test("decoded cache: stores once, reads back the decoder's exact pixels (8- and 16-bit)", async () => {
  await withDir(async (dir) => {
    const files = [`${dir}/a.jpg`, `${dir}/b.png`, `${dir}/c.jpg`];
    await writeImage(files[0]!, { size: [20, 15], value: 0.3 });
    await writeImage(files[1]!, { size: 16, value: 0.7, deep: true, channels: 1 });
    await writeImage(files[2]!, { size: 24, value: 0.4, channels: 1 });
    const cache = await DecodedImageCache.open(`${dir}/cache`, decode);
    for (const f of files) assert.deepEqual(await viaCache(cache, f), await direct(f));
    assert.deepEqual({ ...cache.stats(), dir: "" }, {
      dir: "",
      hits: 0,
      stored: 3,
      invalid: 0,
      writeFailed: false,
    });
    for (const f of files) assert.deepEqual(await viaCache(cache, f), await direct(f));
    assert.equal(cache.stats().hits, 3);
    // Grey images (16-bit PNG, 8-bit JPEG) decoded to RGB are stored with one channel: a third.
    const pixels = decode.height * decode.width * decode.channels;
    const sizes = files.map((f) => Deno.statSync(cache.entryFor({ path: f }).file).size);
    assert.ok(sizes[0]! > pixels && sizes[0]! < pixels + 600, `colour entry ${sizes[0]} bytes`);
    assert.ok(
      sizes[1]! > (2 * pixels) / 3 && sizes[1]! < (2 * pixels) / 3 + 600,
      `grey ${sizes[1]}`,
    );
    // A second process (another cache object on the same directory) reads the same entries.
    const again = await DecodedImageCache.open(`${dir}/cache`, decode);
    assert.deepEqual(await viaCache(again, files[1]!), await direct(files[1]!));
    assert.deepEqual([again.stats().hits, again.stats().stored], [1, 0]);
    assert.match(formatCacheStats(again.stats()), /1 images read, 0 decoded and stored$/);
  });
});

Deno.test("decoded cache: a changed file or other decode settings never read a stale entry", async () => {
  await withDir(async (dir) => {
    const file = `${dir}/a.jpg`;
    await writeImage(file, { size: 12, value: 0.2 });
    const cache = await DecodedImageCache.open(`${dir}/cache`, decode);
    const before = await viaCache(cache, file);
    await writeImage(file, { size: 14, value: 0.8 }); // new size and modification time
    const after = await viaCache(cache, file);
    assert.deepEqual(after, await direct(file));
    assert.notDeepEqual(after, before);
    // Rewritten in place with its size and modification time kept (`cp -p`, `rsync -t`): the
    // status-change time, which tools cannot set, still tells the versions apart.
    const stamp = Deno.statSync(file), key = cache.entryFor({ path: file }).key;
    await new Promise((r) => setTimeout(r, 1050)); // Deno reports ctime in whole seconds
    await Deno.writeFile(file, await Deno.readFile(file));
    await Deno.utime(file, stamp.atime!, stamp.mtime!);
    assert.deepEqual([Deno.statSync(file).size, Deno.statSync(file).mtime], [
      stamp.size,
      stamp.mtime,
    ]);
    assert.notEqual(cache.entryFor({ path: file }).key, key);
    const grey: DecodeOptions = { ...decode, channels: 1 };
    const other = await DecodedImageCache.open(`${dir}/cache`, grey);
    assert.deepEqual(await viaCache(other, file, grey), await direct(file, grey));
    assert.deepEqual([cache.stats().hits, other.stats().hits, other.stats().stored], [0, 0, 1]);
  });
});

Deno.test("decoded cache: damaged or foreign entries are decoded again and rewritten", async () => {
  await withDir(async (dir) => {
    const [a, b] = [`${dir}/a.jpg`, `${dir}/b.jpg`];
    await writeImage(a, { size: 12, value: 0.2 });
    await writeImage(b, { size: 12, value: 0.6 });
    const cache = await DecodedImageCache.open(`${dir}/cache`, decode);
    await viaCache(cache, a);
    await viaCache(cache, b);
    const [ea, eb] = [cache.entryFor({ path: a }), cache.entryFor({ path: b })];
    const bytes = await Deno.readFile(ea.file);
    await Deno.writeFile(ea.file, bytes.subarray(0, bytes.length - 5)); // truncated write
    await Deno.copyFile(ea.file, eb.file); // an entry holding another key
    assert.deepEqual(await viaCache(cache, a), await direct(a));
    assert.deepEqual(await viaCache(cache, b), await direct(b));
    assert.deepEqual([cache.stats().invalid, cache.stats().stored], [2, 4]);
    assert.deepEqual(await viaCache(cache, a), await direct(a)); // the rewritten entry is good
    assert.equal(cache.stats().hits, 1);
    assert.match(formatCacheStats(cache.stats()), /2 stale or damaged entries rewritten/);
    // Two flipped payload bytes, the length unchanged: caught by the checksum (it was served).
    const good = await Deno.readFile(ea.file);
    good[good.length - 3]! ^= 0x10;
    good[good.length - 7]! ^= 0x01;
    await Deno.writeFile(ea.file, good);
    assert.deepEqual(await viaCache(cache, a), await direct(a));
    assert.deepEqual([cache.stats().invalid, cache.stats().hits], [3, 1]);
  });
});

Deno.test("decoded cache: a missing source throws NotFound; an unwritable cache warns once and goes on", async () => {
  await withDir(async (dir) => {
    const cache = await DecodedImageCache.open(`${dir}/cache`, decode);
    await assert.rejects(viaCache(cache, `${dir}/missing.jpg`), Deno.errors.NotFound);
    await Deno.remove(`${dir}/cache`, { recursive: true });
    await Deno.writeTextFile(`${dir}/cache`, "a file where the directory was");
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (m: string) => warnings.push(m);
    try {
      for (const value of [0.2, 0.4]) {
        await writeImage(`${dir}/${value}.jpg`, { size: 12, value });
        const path = `${dir}/${value}.jpg`;
        assert.deepEqual(await viaCache(cache, path), await direct(path));
      }
    } finally {
      console.warn = warn;
    }
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0]!,
      /cannot write to the decoded-image cache .*going on without storing/,
    );
    assert.deepEqual([cache.stats().writeFailed, cache.stats().stored], [true, 0]);
    await assert.rejects(
      DecodedImageCache.open(`${dir}/cache/sub`, decode),
      /cannot create the decoded-image cache directory .*set cache: false/,
    );
  });
});

Deno.test("decoded cache: greyChannel keeps one channel only when R = G = B everywhere", () => {
  assert.deepEqual(greyChannel(Uint8Array.from([5, 5, 5, 9, 9, 9])), Uint8Array.from([5, 9]));
  assert.deepEqual(greyChannel(Uint16Array.from([700, 700, 700])), Uint16Array.from([700]));
  assert.equal(greyChannel(Uint8Array.from([5, 5, 5, 9, 9, 8])), undefined);
});

Deno.test("decoded cache: `cache` setting → directory", () => {
  assert.equal(decodedCacheDir(false, "/c"), undefined);
  assert.equal(decodedCacheDir(undefined, "/c"), undefined);
  assert.equal(decodedCacheDir(true, "/c"), "/c/decoded");
  assert.equal(decodedCacheDir(true, ""), ".cache/novalab/decoded");
  assert.equal(decodedCacheDir("/elsewhere", "/c"), "/elsewhere");
});

const all: BatchOptions = { batchSize: 8, seed: 0, shuffle: false, dropLast: false };
const fileParams: FileSourceParams = {
  size: [9, 7],
  channels: 3,
  fit: "cover",
  concurrency: 3,
  bad_input: "skip",
  val: 0,
  test: 0,
};

Deno.test("decoded cache: image_folder batches are identical with and without the cache", async () => {
  await withDir(async (dir) => {
    for (const [c, cls] of ["cat", "dog"].entries()) {
      for (let i = 0; i < 3; i++) {
        await writeImage(`${dir}/data/${cls}/${i}.jpg`, {
          size: 20,
          value: 0.2 + 0.2 * c + 0.05 * i,
        });
      }
    }
    const folder = { root: `${dir}/data`, captions: ["a {}."], extensions: [".jpg"] };
    const plain = await createImageFolderSource({ ...fileParams, ...folder }, { seed: 0 });
    const ctx = { seed: 0, cacheDir: `${dir}/runcache` };
    const expected = await plain.batch("train", 0, all);
    assert.equal(plain.cacheStats(), undefined);
    for (const round of [0, 1]) {
      const cached = await createImageFolderSource({ ...fileParams, ...folder, cache: true }, ctx);
      const batch = await cached.batch("train", 0, all);
      assert.deepEqual(batch.image.dataSync(), expected.image.dataSync());
      assert.deepEqual(batch.label, expected.label);
      const stats = cached.cacheStats()!;
      assert.equal(stats.dir, `${dir}/runcache/decoded`);
      assert.deepEqual([stats.hits, stats.stored], round === 0 ? [0, 6] : [6, 0]);
      batch.image.dispose();
    }
    expected.image.dispose();
  });
});

Deno.test("decoded cache: webdataset members are cached per shard and key", async () => {
  await withDir(async (dir) => {
    const member = async (i: number) => {
      await writeImage(`${dir}/img${i}.jpg`, { size: 16, value: 0.15 + 0.1 * i });
      return {
        key: `s${i}`,
        files: { jpg: await Deno.readFile(`${dir}/img${i}.jpg`), txt: `t ${i}` },
      };
    };
    await writeTarShard(`${dir}/train-0.tar`, await Promise.all([0, 1, 2, 3].map(member)));
    const params = {
      shards: `${dir}/train-0.tar`,
      image_ext: ["jpg"],
      text_ext: "txt",
      json_key: "caption",
      shuffle_buffer: 2,
      size: 6,
      channels: 1 as const,
      fit: "cover" as const,
      concurrency: 2,
      bad_input: "skip" as const,
    };
    const plain = await createWebDatasetSource(params);
    const expected = await plain.batch("train", 0, all);
    for (const round of [0, 1]) {
      const cached = await createWebDatasetSource({ ...params, cache: `${dir}/wds` });
      const batch = await cached.batch("train", 0, all);
      assert.deepEqual(batch.image.dataSync(), expected.image.dataSync());
      assert.deepEqual(cached.cacheStats()!.hits, round === 0 ? 0 : 4);
      batch.image.dispose();
      cached.dispose();
    }
    expected.image.dispose();
    plain.dispose();
  });
});

Deno.test("decoded cache: a custom reader and the cache do not combine (entries key local files)", async () => {
  await withDir(async (dir) => {
    const cache = await DecodedImageCache.open(`${dir}/cache`, decode);
    assert.throws(
      () =>
        new FileImageSource({
          name: "remote",
          classNames: [],
          splits: { train: [] },
          decode,
          concurrency: 1,
          log: new BadInputLog("remote", { policy: "fail" }),
          read: (path) => Deno.readFile(path),
          cache,
        }),
      /remote: a custom read function and the decoded-image cache do not combine/,
    );
  });
});
