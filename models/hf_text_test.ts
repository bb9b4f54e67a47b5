import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { BuildContext } from "../core/types.ts";
import {
  createHfTextTower,
  hfTextEntries,
  type HfTextParams,
  HfTextTower,
  locateHfModel,
} from "./hf_text.ts";
import { ffiProblem } from "./hf_text_bridge.ts";
import { TextEmbeddingCache } from "./text_cache.ts";
import { type TinyBertTables, writeTinyBertFolder } from "./tiny_hf_model.ts";

await tf.setBackend("cpu");
const run = { training: true, step: 0, seed: 0 };
const FFI = Deno.permissions.querySync({ name: "ffi" }).state === "granted";

function ctx(cacheDir: string): BuildContext {
  return { name: "text_raw", inputShapes: [[]], seed: 0, cacheDir };
}

function params(overrides: Partial<HfTextParams>): HfTextParams {
  return hfTextEntries[0]!.schema.parse({ model: "tiny-bert", ...overrides }) as HfTextParams;
}

Deno.test("hf_text: offline, a missing model names where it looked and what is missing", async () => {
  const dir = await Deno.makeTempDir();
  try {
    assert.throws(
      () => locateHfModel(params({ model_dir: `${dir}/models` }), ctx(dir)),
      new RegExp(
        `node "text_raw" \\(hf_text\\): model "tiny-bert" is not available offline; looked in ` +
          `${dir}/models/tiny-bert — missing: the folder itself\\. Expected a transformers\\.js ` +
          `model folder \\(config\\.json, tokenizer\\.json, tokenizer_config\\.json, onnx/model\\.onnx\\).*` +
          `or set allow_remote: true on a machine that is online`,
      ),
    );
    await Deno.mkdir(`${dir}/hf_models/tiny-bert`, { recursive: true });
    await Deno.writeTextFile(`${dir}/hf_models/tiny-bert/config.json`, "{}");
    assert.throws(
      () => locateHfModel(params({ dtype: "q8" }), ctx(dir)), // default root: <cacheDir>/hf_models
      /looked in .*\/hf_models\/tiny-bert — missing: tokenizer\.json, tokenizer_config\.json, onnx\/model_quantized\.onnx\./,
    );
    const saved = Deno.env.get("NOVALAB_HF_MODELS");
    Deno.env.set("NOVALAB_HF_MODELS", `${dir}/elsewhere`);
    try {
      assert.throws(
        () => locateHfModel(params({}), ctx(dir)),
        /looked in .*\/elsewhere\/tiny-bert/,
      );
    } finally {
      if (saved === undefined) Deno.env.delete("NOVALAB_HF_MODELS");
      else Deno.env.set("NOVALAB_HF_MODELS", saved);
    }
    assert.throws(
      () => locateHfModel(params({ model: `${dir}/nope`, allow_remote: true }), ctx(dir)),
      /model ".*\/nope" is not available offline; looked in .*\/nope — missing: the folder itself/,
    );
    // Online, a hub id that is not local is left to transformers.js.
    const online = locateHfModel(params({ model: "org/model", allow_remote: true }), ctx(dir));
    assert.deepEqual(online, { id: "org/model", localModelPath: `${dir}/hf_models` });
    // The factory reports the same before starting anything.
    await assert.rejects(
      createHfTextTower(params({ model_dir: `${dir}/models` }), ctx(dir)),
      /not available offline/,
    );
    await assert.rejects(
      createHfTextTower(params({}), { ...ctx(dir), inputShapes: [[-1, 4]] }),
      /expects a list of strings such as batch\.caption, got an input of shape \[-1, 4\]/,
    );
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("hf_text: schema, FFI message", () => {
  const schema = hfTextEntries[0]!.schema;
  assert.deepEqual(schema.parse({ model: "m" }), {
    model: "m",
    pooling: "mean",
    normalize: false,
    dtype: "fp32",
    allow_remote: false,
  });
  assert.equal(schema.safeParse({}).success, false, "model is required");
  assert.equal(schema.safeParse({ model: "m", pooling: "max" }).success, false);
  assert.equal(schema.safeParse({ model: "m", cache: true }).success, false, "strict");
  assert.equal(ffiProblem("t", { granted: true }), undefined);
  assert.match(ffiProblem("t", { granted: false })!, /node "t" \(hf_text\).*--allow-ffi/);
});

Deno.test("hf_text: each distinct text is embedded once; a second run reads the disk cache", async () => {
  const dir = await Deno.makeTempDir();
  try {
    const calls: string[][] = [];
    const tower = (normalize: boolean) =>
      new HfTextTower({
        name: "t",
        dim: 2,
        normalize,
        cache: new TextEmbeddingCache(dir, { tower: "fake", pooling: "mean" }),
        embed: (texts) => {
          calls.push(texts);
          return Float32Array.from(texts.flatMap((t) => [t.length, 4]));
        },
      });
    const first = tower(false);
    const before = tf.memory().numTensors;
    const a = first.forward([["abc", "x", "abc"]], run);
    assert.deepEqual(a.arraySync(), [[3, 4], [1, 4], [3, 4]]);
    assert.deepEqual(calls, [["abc", "x"]], "duplicates embedded once");
    first.forward([["x", "abc"]], run).dispose();
    assert.equal(calls.length, 1, "in-memory hit");
    a.dispose();
    assert.equal(tf.memory().numTensors, before);
    const second = tower(true);
    const b = second.forward([["x", "abc"]], run);
    assert.equal(calls.length, 1, "second run reads the cache file");
    assert.equal(second.computed, 0);
    const rows = b.arraySync() as number[][];
    assert.ok(Math.abs(rows[1]![0]! - 0.6) < 1e-6 && Math.abs(rows[1]![1]! - 0.8) < 1e-6);
    b.dispose();
    assert.throws(() => second.forward([tf.zeros([1])], run), /expects a list of strings/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

/** What the tiny model gives for `ids` (hand computation of its ONNX graph). */
function expected(t: TinyBertTables, ids: number[], pooling: "cls" | "mean"): number[] {
  const h = t.hidden;
  const rows = ids.map((id, p) =>
    Array.from(
      { length: h },
      (_, k) => t.words[id * h + k]! + t.positions[p * h + k]! + t.segments[k]!,
    )
  );
  if (pooling === "cls") return rows[0]!;
  return Array.from({ length: h }, (_, k) => rows.reduce((s, r) => s + r[k]!, 0) / rows.length);
}

Deno.test({
  name: "hf_text: a tiny BERT folder through transformers.js (real pipeline, worker, cache)",
  ignore: !FFI,
  fn: async () => {
    const dir = await Deno.makeTempDir();
    try {
      const words = ["a", "photo", "of", "the", "number", "seven", "eight", "##s", "."];
      const t = await writeTinyBertFolder(`${dir}/models/tiny-bert`, { words, hidden: 8 });
      const id = (w: string) => t.vocab.indexOf(w);
      const seven = ["[CLS]", "a", "photo", "of", "the", "number", "seven", ".", "[SEP]"].map(id);
      const eights = ["[CLS]", "eight", "##s", "[SEP]"].map(id);
      const unknown = ["[CLS]", "[UNK]", "seven", "[SEP]"].map(id);
      const texts = ["A photo of the number SEVEN.", "eights", "zebra seven"];
      const p = params({ model_dir: `${dir}/models` });
      const tower = await createHfTextTower(p, ctx(`${dir}/cache`));
      const out = tower.forward([texts], run);
      const got = out.arraySync() as number[][];
      [seven, eights, unknown].forEach((ids, i) =>
        got[i]!.forEach((v, k) => assert.ok(Math.abs(v - expected(t, ids, "mean")[k]!) < 1e-5))
      );
      assert.equal(tower.computed, 3);
      tower.dispose();
      // A second run: same folder and cache directory → read from disk, nothing computed.
      const again = await createHfTextTower(p, ctx(`${dir}/cache`));
      const out2 = again.forward([texts.slice().reverse()], run);
      assert.deepEqual(out2.arraySync(), got.slice().reverse());
      assert.equal(again.computed, 0);
      again.forward([["the number eight."]], run).dispose();
      assert.equal(again.computed, 1);
      again.dispose();
      // cls pooling + normalisation, and a model given by path.
      const cls = await createHfTextTower(
        params({ model: `${dir}/models/tiny-bert`, pooling: "cls", normalize: true }),
        ctx(`${dir}/cache`),
      );
      const c = cls.forward([["eights"]], run).arraySync() as number[][];
      const e = expected(t, eights, "cls"), norm = Math.hypot(...e);
      c[0]!.forEach((v, k) => assert.ok(Math.abs(v - e[k]! / norm) < 1e-5));
      cls.dispose();
      tf.dispose([out, out2]);
      // A broken model file: transformers.js's reason is passed on with the location.
      await Deno.writeTextFile(`${dir}/models/tiny-bert/onnx/model.onnx`, "not onnx");
      await assert.rejects(
        createHfTextTower(p, ctx(`${dir}/cache`)),
        /\(hf_text\): transformers\.js could not load "tiny-bert" from .*\/models\/tiny-bert: /,
      );
    } finally {
      await Deno.remove(dir, { recursive: true });
    }
  },
});
