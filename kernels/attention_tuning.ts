/**
 * The attention backward's dK/dV form, measured per shape on the device: one
 * program computing dK and dV together (four `d`-rows per thread: k, v, dk,
 * dv — 256 floats at d = 64, past NVIDIA's 255 registers, so it may spill) or
 * two (dV, then dK: two rows fewer each, one more dispatch and the scores
 * computed twice; `kernels/attention_grad_programs.ts`). Which is faster
 * depends on the GPU's registers and the shape, so `--autotune` times both on
 * each shape a step runs (`kernels/attention_autotune.ts`) and this table keeps
 * the faster; `NOVALAB_ATTENTION_SPLIT_KV=0|1` overrides it. Both forms give
 * the same gradient up to fp32 rounding.
 *
 * @module
 */
import { TuningTable } from "./tuning_table.ts";

/** The shape an attention call runs on. */
export interface AttentionShape {
  /** Sequences. */
  n: number;
  /** Tokens per sequence. */
  t: number;
  /** Heads. */
  heads: number;
  /** Head width. */
  dh: number;
  /** A per-key additive bias (padding mask) is given. */
  keyBias: boolean;
}

/** `attention NxT hHxD [keyBias]`: the table key of `shape`. */
export function attentionShapeKey(s: AttentionShape): string {
  return `attention ${s.n}x${s.t} h${s.heads}x${s.dh}${s.keyBias ? " keyBias" : ""}`;
}

/** Per shape: whether the backward splits dK/dV into two programs. */
export const attentionTable: TuningTable<AttentionShape, boolean> = new TuningTable(
  attentionShapeKey,
);

/** Environment switch: `1` splits dK/dV, `0` fuses them, whatever the table says. */
export const ATTENTION_SPLIT_KV_ENV = "NOVALAB_ATTENTION_SPLIT_KV";

function environmentSplit(): boolean | undefined {
  let flag: string | undefined;
  try {
    flag = Deno.env.get(ATTENTION_SPLIT_KV_ENV);
  } catch {
    flag = undefined;
  }
  return flag === "1" ? true : flag === "0" ? false : undefined;
}

/**
 * Whether the backward of an attention of `shape` splits dK/dV: the
 * environment, else the tuned entry, else no (the fused program). Tells
 * recordings that the shape ran.
 */
export function splitKeyValue(shape: AttentionShape): boolean {
  attentionTable.note(shape);
  return environmentSplit() ?? attentionTable.get(shape) ?? false;
}
