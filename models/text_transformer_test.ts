import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { encode } from "gpt-tokenizer/encoding/cl100k_base";
import { EOT_ROW, PAD_ROW, SOT_ROW, SubwordTokenizer } from "./subword.ts";
import { TextTransformer, type TextTransformerOptions } from "./text_transformer.ts";

await tf.setBackend("cpu");
const run = { training: true, step: 0, seed: 0 };

function model(overrides: Partial<TextTransformerOptions> = {}): TextTransformer {
  return new TextTransformer({
    vocab: 512,
    buckets: 64,
    maxLength: 8,
    dim: 16,
    depth: 2,
    heads: 2,
    mlpRatio: 2,
    causal: true,
    pooling: "eot",
    output: "pooled",
    ...overrides,
  }, { name: "text", seed: 1 });
}

Deno.test("subword: cl100k ids fold into the table by the documented scheme", () => {
  const tok = new SubwordTokenizer({ vocab: 1000, buckets: 100, maxLength: 6 });
  // direct = 1000 - 3 - 100 = 897: ids below keep their own row 3 + id.
  assert.equal(tok.row(0), 3);
  assert.equal(tok.row(896), 899);
  for (const id of [897, 8254, 99489, 100000]) {
    const row = tok.row(id);
    assert.ok(row >= 900 && row < 1000, `id ${id} → row ${row}`);
    assert.equal(tok.row(id), row, "deterministic");
  }
  // Real BPE: "a photo of the number seven." is 7 cl100k tokens.
  const ids = encode("a photo of the number seven.");
  assert.deepEqual(ids, [64, 6685, 315, 279, 1396, 8254, 13]);
  assert.deepEqual([...tok.rows("a photo of the number seven.")], ids.map((i) => tok.row(i)));
  const { rows, mask, eot } = tok.encodeBatch(["a photo of the number seven.", "hi", ""]);
  // Truncation: SOT + first 4 tokens + EOT; short texts padded.
  assert.deepEqual([...rows.subarray(0, 6)], [
    SOT_ROW,
    ...ids.slice(0, 4).map((i) => tok.row(i)),
    EOT_ROW,
  ]);
  assert.deepEqual([...rows.subarray(6, 12)], [
    SOT_ROW,
    tok.row(6151),
    EOT_ROW,
    PAD_ROW,
    PAD_ROW,
    PAD_ROW,
  ]);
  assert.deepEqual([...rows.subarray(12)], [SOT_ROW, EOT_ROW, PAD_ROW, PAD_ROW, PAD_ROW, PAD_ROW]);
  assert.deepEqual([...eot], [5, 2, 1]);
  assert.deepEqual([...mask.subarray(6, 12)], [1, 1, 1, 0, 0, 0]);
  // Special-token text is plain text, not an error.
  assert.ok(tok.rows("<|endoftext|>").length > 1);
  assert.throws(
    () => new SubwordTokenizer({ vocab: 10, buckets: 7, maxLength: 6 }),
    /hash buckets 7 must be in \[1, vocab - 4\] = \[1, 6\] for vocab 10/,
  );
  assert.throws(
    () => new SubwordTokenizer({ vocab: 10, buckets: 2, maxLength: 2 }),
    /max length 2 must be >= 3/,
  );
});

Deno.test("text_transformer: [B, D] for every pooling, batch-independent, no leak", () => {
  const texts = ["a photo of the number seven.", "the number eight.", "zero"];
  for (const pooling of ["eot", "mean"] as const) {
    for (const causal of [true, false]) {
      const m = model({ pooling, causal });
      const before = tf.memory().numTensors;
      tf.tidy(() => {
        const all = m.forward([texts], run) as tf.Tensor;
        assert.deepEqual(all.shape, [3, 16]);
        // A text's embedding does not depend on the other texts (padding is masked).
        const alone = m.forward([[texts[1]!]], run) as tf.Tensor;
        const diff = tf.max(tf.abs(tf.sub(tf.slice(all, [1, 0], [1, -1]), alone)))
          .arraySync() as number;
        assert.ok(diff < 1e-5, `${pooling}/${causal}: padding leaked, diff ${diff}`);
        const rows = all.arraySync() as number[][];
        assert.notDeepEqual(rows[1], rows[2]);
      });
      assert.equal(tf.memory().numTensors, before);
      m.dispose();
    }
  }
  const cls = model({ pooling: "cls", causal: false });
  tf.tidy(() => assert.deepEqual((cls.forward([texts], run) as tf.Tensor).shape, [3, 16]));
  cls.dispose();
  assert.throws(() => model({ pooling: "cls", causal: true }), /pooling "cls" with causal: true/);
  assert.throws(() => model({ dim: 10, heads: 4 }), /dim 10 is not divisible by heads 4/);
  const m = model();
  assert.throws(() => m.forward([tf.zeros([2, 3])], run), /expects a list of strings.*\[2, 3\]/);
  m.dispose();
});

Deno.test("text_transformer: causal states ignore later tokens; tokens output is packed", () => {
  const causal = model({ output: "tokens" });
  const bidirectional = model({ output: "tokens", causal: false });
  tf.tidy(() => {
    // "the number seven" and "the number eight" share their first two BPE tokens.
    const texts = ["the number seven", "the number eight"];
    const c = causal.forward([texts], run) as tf.Tensor;
    assert.deepEqual(c.shape, [2, 8, 17]);
    const mask = tf.slice(c, [0, 0, 16], [-1, -1, 1]).reshape([2, 8]).arraySync();
    assert.deepEqual(mask, [[1, 1, 1, 1, 1, 0, 0, 0], [1, 1, 1, 1, 1, 0, 0, 0]]);
    const prefix = (t: tf.Tensor) => tf.slice(t, [0, 0, 0], [-1, 3, 16]);
    const [p0, p1] = tf.split(prefix(c), 2, 0);
    assert.ok((tf.max(tf.abs(tf.sub(p0!, p1!))).arraySync() as number) < 1e-5, "causal prefix");
    const b = bidirectional.forward([texts], run) as tf.Tensor;
    const [q0, q1] = tf.split(prefix(b), 2, 0);
    assert.ok((tf.max(tf.abs(tf.sub(q0!, q1!))).arraySync() as number) > 1e-4, "bidirectional");
    const padded = tf.slice(c, [0, 5, 0], [-1, -1, -1]);
    assert.equal(tf.max(tf.abs(padded)).arraySync(), 0, "padded rows are zero");
  });
  causal.dispose();
  bidirectional.dispose();
});

Deno.test("text_transformer: trains — a few Adam steps separate two captions' embeddings", () => {
  const m = model();
  const names = m.parameters.map((p) => p.name);
  assert.deepEqual(names.slice(0, 2), ["text.token_embed", "text.pos_embed"]);
  assert.ok(names.includes("text.blocks.1.mlp.fc2.weight") && names.at(-1) === "text.norm.bias");
  assert.deepEqual(
    m.parameters.filter((p) => !p.decay).map((p) => p.name).filter((n) => !/norm|bias/.test(n)),
    ["text.pos_embed"],
  );
  const optimizer = tf.train.adam(0.01);
  const texts = ["a handwritten digit seven.", "a handwritten digit one."];
  // Zero-mean, unit-variance targets (reachable behind the final LayerNorm), opposite signs.
  const sign = Array.from({ length: 16 }, (_, i) => (i % 2 ? 1 : -1));
  const target = tf.tensor2d([sign, sign.map((v) => -v)]);
  const loss = () =>
    tf.mean(tf.square(tf.sub(m.forward([texts], run) as tf.Tensor, target))) as tf.Scalar;
  const first = tf.tidy(() => loss().arraySync());
  for (let i = 0; i < 20; i++) tf.tidy(() => void optimizer.minimize(loss));
  const last = tf.tidy(() => loss().arraySync());
  assert.ok(last < first * 0.5, `loss ${first} → ${last}`);
  optimizer.dispose();
  target.dispose();
  m.dispose();
});
