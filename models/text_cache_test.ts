import assert from "node:assert/strict";
import { textCachePath, TextEmbeddingCache } from "./text_cache.ts";

const key = { tower: "hf:tiny-bert:fp32", pooling: "mean" };

Deno.test("text_cache: vectors persist across instances; key selects the file", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const first = new TextEmbeddingCache(dir, key);
    assert.equal(first.loaded, 0);
    assert.equal(first.get("a"), undefined);
    first.put([["a", Float32Array.of(1, 2)], ["ünïcode ✓", Float32Array.of(-0.5, 3.25, 7)]]);
    first.put([["b", Float32Array.of(4, 5)]]);
    assert.equal(first.written, 3);
    const second = new TextEmbeddingCache(dir, key);
    assert.equal(second.loaded, 3);
    assert.deepEqual([...second.get("ünïcode ✓")!], [-0.5, 3.25, 7]);
    assert.deepEqual([...second.get("b")!], [4, 5]);
    // Another pooling or tower is another file, untouched by the first.
    const other = new TextEmbeddingCache(dir, { ...key, pooling: "cls" });
    assert.equal(other.loaded, 0);
    assert.notEqual(other.path, first.path);
    assert.match(first.path, /\/text_embeddings\/hf_tiny-bert_fp32\.mean\.[0-9a-f]{8}\.bin$/);
    assert.equal(textCachePath("", key), "");
    // A later record for the same text wins.
    second.put([["a", Float32Array.of(9, 9)]]);
    assert.deepEqual([...new TextEmbeddingCache(dir, key).get("a")!], [9, 9]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("text_cache: torn tail ignored; foreign or corrupt file replaced; in-memory mode", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const cache = new TextEmbeddingCache(dir, key);
    cache.put([["a", Float32Array.of(1, 2)], ["b", Float32Array.of(3, 4)]]);
    const bytes = await Deno.readFile(cache.path);
    await Deno.writeFile(cache.path, bytes.subarray(0, bytes.length - 3)); // crash mid-record
    const torn = new TextEmbeddingCache(dir, key);
    assert.equal(torn.loaded, 1);
    assert.deepEqual([...torn.get("a")!], [1, 2]);
    torn.put([["b", Float32Array.of(3, 4)]]); // rewrites the file instead of appending
    const healed = new TextEmbeddingCache(dir, key);
    assert.equal(healed.loaded, 2);
    assert.deepEqual([...healed.get("b")!], [3, 4]);
    healed.put([["d", Float32Array.of(6)]]); // a complete file is appended to
    assert.equal(new TextEmbeddingCache(dir, key).loaded, 3);

    await Deno.writeTextFile(
      cache.path,
      '{"format":"novalab-text-embeddings/1","tower":"x","pooling":"mean"}\n',
    );
    const foreign = new TextEmbeddingCache(dir, key);
    assert.equal(foreign.loaded, 0);
    foreign.put([["c", Float32Array.of(5)]]);
    const fixed = new TextEmbeddingCache(dir, key);
    assert.deepEqual([...fixed.get("c")!], [5]);
    assert.equal(fixed.loaded, 1);
    await Deno.writeTextFile(cache.path, "not a cache");
    assert.equal(new TextEmbeddingCache(dir, key).loaded, 0);

    const memory = new TextEmbeddingCache("", key);
    memory.put([["m", Float32Array.of(1)]]);
    assert.deepEqual([...memory.get("m")!], [1]);
    assert.equal(memory.path, "");
    const leftovers = [...Deno.readDirSync(`${dir}/text_embeddings`)].map((e) => e.name);
    assert.equal(leftovers.length, 1, `no temp files left: ${leftovers}`);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
