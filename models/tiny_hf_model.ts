/**
 * A tiny BERT-like model folder in the layout `@huggingface/transformers`
 * loads for `feature-extraction`, written from scratch (no model ships in any
 * npm package, and no `onnx` Python package is needed): `config.json`,
 * `tokenizer.json` (BERT normaliser + pre-tokeniser, WordPiece vocabulary,
 * `[CLS] … [SEP]` template), `tokenizer_config.json` and `onnx/model.onnx`.
 *
 * The ONNX graph (opset 13) maps `input_ids [B, L]` (int64), `attention_mask
 * [B, L]` and `token_type_ids [B, L]` to
 * `last_hidden_state = (E[input_ids] + P[0:L] + S[token_type_ids]) ⊙ mask`, with
 * word table `E [V, H]`, position table `P [maxPositions, H]` and segment
 * table `S [2, H]`, so every output is computable by hand in tests. The
 * protobuf is encoded by `encodeOnnxModel` (`models/onnx_proto.ts`).
 *
 * @module
 */
import { encodeOnnxModel, FLOAT, type OnnxGraph, type OnnxValue } from "./onnx_proto.ts";

/** The tables of a tiny BERT-like model; the tests recompute outputs from them. */
export interface TinyBertTables {
  /** WordPiece vocabulary in id order (`[PAD]`, `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]`, words…). */
  vocab: string[];
  /** Hidden size `H`. */
  hidden: number;
  /** Word table `[V, H]`, row-major. */
  words: Float32Array;
  /** Position table `[maxPositions, H]`, row-major. */
  positions: Float32Array;
  /** Segment table `[2, H]`, row-major. */
  segments: Float32Array;
}

const SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"];

function tinyGraph(t: TinyBertTables, maxPositions: number): OnnxGraph {
  const ids = (name: string): OnnxValue => ({ name, type: "int64", dims: ["batch", "sequence"] });
  const node = (op: string, inputs: string[], out: string, attrs?: Record<string, number>) => ({
    op,
    inputs,
    outputs: [out],
    intAttributes: attrs,
  });
  return {
    inputs: [ids("input_ids"), ids("attention_mask"), ids("token_type_ids")],
    outputs: [{
      name: "last_hidden_state",
      type: "float32",
      dims: ["batch", "sequence", t.hidden],
    }],
    initializers: [
      { name: "words", dims: [t.vocab.length, t.hidden], values: t.words },
      { name: "positions", dims: [maxPositions, t.hidden], values: t.positions },
      { name: "segments", dims: [2, t.hidden], values: t.segments },
      { name: "zero", dims: [1], values: [0], int64: true },
      { name: "one", dims: [1], values: [1], int64: true },
      { name: "last_axis", dims: [1], values: [-1], int64: true },
    ],
    nodes: [
      node("Gather", ["words", "input_ids"], "w"),
      node("Gather", ["segments", "token_type_ids"], "s"),
      node("Shape", ["input_ids"], "shape"),
      node("Gather", ["shape", "one"], "length"), // [1]: L
      node("Slice", ["positions", "zero", "length", "zero"], "p"), // [L, H]
      node("Add", ["w", "s"], "ws"),
      node("Add", ["ws", "p"], "wsp"),
      node("Cast", ["attention_mask"], "maskf", { to: FLOAT }),
      node("Unsqueeze", ["maskf", "last_axis"], "mask3"),
      node("Mul", ["wsp", "mask3"], "last_hidden_state"),
    ],
  };
}

function bertTokenizerJson(vocab: string[]): unknown {
  const special = (id: string) => ({ SpecialToken: { id, type_id: 0 } });
  return {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: SPECIALS.map((content, id) => ({
      id,
      content,
      single_word: false,
      lstrip: false,
      rstrip: false,
      normalized: false,
      special: true,
    })),
    normalizer: {
      type: "BertNormalizer",
      clean_text: true,
      handle_chinese_chars: true,
      strip_accents: null,
      lowercase: true,
    },
    pre_tokenizer: { type: "BertPreTokenizer" },
    post_processor: {
      type: "TemplateProcessing",
      single: [special("[CLS]"), { Sequence: { id: "A", type_id: 0 } }, special("[SEP]")],
      pair: [
        special("[CLS]"),
        { Sequence: { id: "A", type_id: 0 } },
        special("[SEP]"),
        { Sequence: { id: "B", type_id: 1 } },
        { SpecialToken: { id: "[SEP]", type_id: 1 } },
      ],
      special_tokens: Object.fromEntries(
        ["[CLS]", "[SEP]"].map((t) => [t, { id: t, ids: [vocab.indexOf(t)], tokens: [t] }]),
      ),
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: "[UNK]",
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab: Object.fromEntries(vocab.map((w, i) => [w, i])),
    },
  };
}

/**
 * Writes a tiny BERT-like feature-extraction model folder under `dir`.
 *
 * @param dir Folder to create (e.g. `<localModelPath>/tiny-bert`).
 * @param options `words` of the WordPiece vocabulary (after the five specials;
 *   `##`-prefixed entries are continuations), hidden size (default 8), table `seed`.
 * @returns The tables behind the model, to compute expected outputs.
 */
export async function writeTinyBertFolder(
  dir: string,
  options: { words: string[]; hidden?: number; seed?: number; maxPositions?: number },
): Promise<TinyBertTables> {
  const hidden = options.hidden ?? 8, maxPositions = options.maxPositions ?? 64;
  const vocab = [...SPECIALS, ...options.words];
  let s = (options.seed ?? 7) >>> 0;
  const random = (n: number) =>
    Float32Array.from({ length: n }, () => {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      return Math.round((s / 2 ** 32 - 0.5) * 64) / 32; // multiples of 1/32: exact sums
    });
  const tables: TinyBertTables = {
    vocab,
    hidden,
    words: random(vocab.length * hidden),
    positions: random(maxPositions * hidden),
    segments: random(2 * hidden),
  };
  await Deno.mkdir(`${dir}/onnx`, { recursive: true });
  const json = (name: string, value: unknown) =>
    Deno.writeTextFile(`${dir}/${name}`, JSON.stringify(value, null, 1));
  await json("config.json", {
    model_type: "bert",
    architectures: ["BertModel"],
    hidden_size: hidden,
    vocab_size: vocab.length,
    num_attention_heads: 1,
    num_hidden_layers: 0,
    max_position_embeddings: maxPositions,
    type_vocab_size: 2,
  });
  await json("tokenizer.json", bertTokenizerJson(vocab));
  await json("tokenizer_config.json", {
    tokenizer_class: "BertTokenizer",
    do_lower_case: true,
    model_max_length: maxPositions,
    cls_token: "[CLS]",
    sep_token: "[SEP]",
    pad_token: "[PAD]",
    unk_token: "[UNK]",
    mask_token: "[MASK]",
  });
  await Deno.writeFile(`${dir}/onnx/model.onnx`, encodeOnnxModel(tinyGraph(tables, maxPositions)));
  return tables;
}
