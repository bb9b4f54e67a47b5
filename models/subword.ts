/**
 * Subword tokenisation for text towers trained from scratch: byte-level BPE
 * with OpenAI's `cl100k_base` vocabulary (npm `gpt-tokenizer`), folded into a
 * small embedding table by a fixed, documented scheme.
 *
 * **Id → table row.** cl100k has ~100k ids, far more than a small model needs
 * or a small dataset can train. Its ids are BPE merge ranks, so low ids are
 * bytes and the most frequent merges. With a table of `vocab` rows and
 * `buckets` hash buckets:
 *
 * - rows 0, 1, 2 are `PAD`, `SOT` (start of text, the CLS position) and `EOT`;
 * - cl100k id `i < direct` (`direct = vocab − 3 − buckets`) has its own row `3 + i`;
 * - every rarer id shares row `3 + direct + hash(i) mod buckets`
 *   (`hash` = the 32-bit murmur3 finaliser).
 *
 * The mapping is stateless and deterministic: no id is ever "unseen", a
 * checkpoint needs no vocabulary file, and the same text always gives the same
 * rows; the cost is that rare tokens share rows (a collision makes two rare
 * tokens indistinguishable to the model; with `buckets` = 2048 two given rare
 * tokens collide with probability 1/2048).
 *
 * A sequence is `[SOT, t₁ … t_n, EOT, PAD …]` of length `maxLength`; texts of
 * more than `maxLength − 2` tokens are truncated to their first
 * `maxLength − 2` tokens and still end with `EOT`.
 *
 * @module
 */
import { encode } from "gpt-tokenizer/encoding/cl100k_base";

/** Row of the padding token. */
export const PAD_ROW = 0;
/** Row of the start-of-text token (position 0, read by `cls` pooling). */
export const SOT_ROW = 1;
/** Row of the end-of-text token (read by `eot` pooling). */
export const EOT_ROW = 2;
const SPECIAL_ROWS = 3;
const NO_SPECIALS = new Set<string>();

/** 32-bit murmur3 finaliser: a fast, well-mixed hash of an integer. */
function mix32(x: number): number {
  let h = x >>> 0;
  h = Math.imul(h ^ (h >>> 16), 0x85ebca6b) >>> 0;
  h = Math.imul(h ^ (h >>> 13), 0xc2b2ae35) >>> 0;
  return (h ^ (h >>> 16)) >>> 0;
}

/** Token rows of a batch of texts. */
export interface EncodedBatch {
  /** Table rows `[B, L]` row-major (`PAD_ROW` after `EOT`). */
  rows: Int32Array;
  /** Mask `[B, L]`: 1 for `SOT`, tokens and `EOT`, 0 for padding. */
  mask: Float32Array;
  /** Position of `EOT` in each sequence `[B]`. */
  eot: Int32Array;
}

/** Options of a {@link SubwordTokenizer}. */
export interface SubwordTokenizerOptions {
  /** Rows of the embedding table (specials + direct ids + buckets). */
  vocab: number;
  /** Hash buckets shared by rare ids (`< vocab − 3`). */
  buckets: number;
  /** Sequence length `L` (≥ 3), `SOT` and `EOT` included. */
  maxLength: number;
}

/** cl100k BPE + the fixed id → row folding described in the module docs. */
export class SubwordTokenizer {
  readonly #direct: number;
  readonly #memo = new Map<string, Int32Array>();

  /** Checks the sizes; see {@link SubwordTokenizerOptions}. */
  constructor(readonly options: SubwordTokenizerOptions) {
    const { vocab, buckets, maxLength } = options;
    if (!(buckets >= 1 && buckets <= vocab - SPECIAL_ROWS - 1)) {
      throw new Error(
        `subword tokenizer: hash buckets ${buckets} must be in [1, vocab - 4] = [1, ${
          vocab - SPECIAL_ROWS - 1
        }] for vocab ${vocab}; choose a larger vocab or fewer buckets`,
      );
    }
    if (maxLength < 3) {
      throw new Error(
        `subword tokenizer: max length ${maxLength} must be >= 3 (SOT, a token, EOT)`,
      );
    }
    this.#direct = vocab - SPECIAL_ROWS - buckets;
  }

  /** Table row of cl100k id `id`. */
  row(id: number): number {
    if (id < this.#direct) return SPECIAL_ROWS + id;
    return SPECIAL_ROWS + this.#direct + (mix32(id) % this.options.buckets);
  }

  /** Table rows of `text`'s tokens (no specials, not truncated); memoised. */
  rows(text: string): Int32Array {
    let rows = this.#memo.get(text);
    if (!rows) {
      // Special-token text such as "<|endoftext|>" in a caption is ordinary text here.
      const ids = encode(text, { disallowedSpecial: NO_SPECIALS });
      rows = Int32Array.from(ids, (id) => this.row(id));
      if (this.#memo.size >= 100_000) this.#memo.clear();
      this.#memo.set(text, rows);
    }
    return rows;
  }

  /** Encodes `texts` into fixed-length sequences `[B, L]`. */
  encodeBatch(texts: readonly string[]): EncodedBatch {
    const l = this.options.maxLength;
    const rows = new Int32Array(texts.length * l).fill(PAD_ROW);
    const mask = new Float32Array(texts.length * l);
    const eot = new Int32Array(texts.length);
    texts.forEach((text, b) => {
      const body = this.rows(text).subarray(0, l - 2);
      rows[b * l] = SOT_ROW;
      rows.set(body, b * l + 1);
      eot[b] = body.length + 1;
      rows[b * l + eot[b]!] = EOT_ROW;
      mask.fill(1, b * l, b * l + eot[b]! + 1);
    });
    return { rows, mask, eot };
  }
}
