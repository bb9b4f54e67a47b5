/**
 * Cutting one call of the generated `gemm` (`kernels/wasm_gemm.ts`) into
 * independent calls for several threads. Every output element is computed by
 * exactly one part with the same blocking of K, so the parts together write
 * the same bits as the whole call on one thread.
 *
 * The cut runs along the first of: the outer batch (`G1`, attention's
 * samples), the inner batch (`G2`, heads), rows when `M ≥ N` (each part packs
 * all of B, which is small next to its rows), columns otherwise (each part
 * packs only its own columns of B: a weight gradient's long K stays split
 * between the threads instead of packed twice). Rows are cut at multiples of
 * the micro-kernel's {@linkcode GEMM_MR} rows and columns at multiples of its
 * {@linkcode GEMM_NR} columns, so no part gets a ragged tile it need not have.
 *
 * @module
 */
import { GEMM_BIAS, GEMM_MR, GEMM_NR } from "./wasm_gemm.ts";

/** The arguments of one `gemm` call, by name (sizes and strides in elements, addresses in bytes). */
export interface GemmCall {
  /** Rows of C. */
  M: number;
  /** Columns of C. */
  N: number;
  /** Depth of the product. */
  K: number;
  /** Byte address of A. */
  A: number;
  /** A's stride between rows. */
  sam: number;
  /** A's stride along the depth. */
  sak: number;
  /** Byte address of B. */
  B: number;
  /** B's stride along the depth. */
  sbk: number;
  /** B's stride between columns. */
  sbn: number;
  /** Byte address of C. */
  C: number;
  /** C's stride between rows. */
  ldc: number;
  /** Byte address of the bias vector (0: none). */
  bias: number;
  /** `GEMM_*` flags. */
  flags: number;
  /** Outer batch count. */
  G1: number;
  /** Inner batch count. */
  G2: number;
  /** A's outer batch stride. */
  sa1: number;
  /** A's inner batch stride. */
  sa2: number;
  /** B's outer batch stride. */
  sb1: number;
  /** B's inner batch stride. */
  sb2: number;
  /** C's outer batch stride. */
  sc1: number;
  /** C's inner batch stride. */
  sc2: number;
  /** Byte address of the call's scratch. */
  scratch: number;
  /** Scale of the product. */
  alpha: number;
}

/** The argument order of the generated function. */
export const GEMM_ARGUMENTS = [
  "M",
  "N",
  "K",
  "A",
  "sam",
  "sak",
  "B",
  "sbk",
  "sbn",
  "C",
  "ldc",
  "bias",
  "flags",
  "G1",
  "G2",
  "sa1",
  "sa2",
  "sb1",
  "sb2",
  "sc1",
  "sc2",
  "scratch",
  "alpha",
] as const satisfies readonly (keyof GemmCall)[];

/**
 * Multiply-adds below which a call is not cut: waking another thread and
 * waiting for it costs a few microseconds, about what one core does with
 * 2¹⁸ multiply-adds.
 */
export const GEMM_SPLIT_MIN_WORK = 1 << 18;

/** Byte offset of `count` floats. */
const F32 = 4;

/** Contiguous ranges `[start, count]` of `total` units cut into at most `parts`, each a multiple of `align` (the last takes the rest). */
function ranges(total: number, parts: number, align: number): [number, number][] {
  const step = Math.ceil(total / parts / align) * align;
  const out: [number, number][] = [];
  for (let start = 0; start < total; start += step) {
    out.push([start, Math.min(step, total - start)]);
  }
  return out;
}

/** The ways to cut a call, in order of preference. */
type Cut = "G1" | "G2" | "M" | "N";

/** The sizes a cut divides and the unit it keeps whole. */
function cutUnits(call: GemmCall, cut: Cut): { size: number; align: number } {
  switch (cut) {
    case "G1":
      return { size: call.G1, align: 1 };
    case "G2":
      return { size: call.G1 === 1 ? call.G2 : 1, align: 1 };
    case "M":
      return { size: call.M >= call.N ? call.M : 0, align: GEMM_MR };
    case "N":
      return { size: call.N, align: GEMM_NR };
  }
}

/** The part of `call` covering `[start, start + count)` along `cut`. */
function part(call: GemmCall, cut: Cut, start: number, count: number): GemmCall {
  switch (cut) {
    case "G1":
      return {
        ...call,
        G1: count,
        A: call.A + start * call.sa1 * F32,
        B: call.B + start * call.sb1 * F32,
        C: call.C + start * call.sc1 * F32,
      };
    case "G2":
      return {
        ...call,
        G2: count,
        A: call.A + start * call.sa2 * F32,
        B: call.B + start * call.sb2 * F32,
        C: call.C + start * call.sc2 * F32,
      };
    case "M":
      return {
        ...call,
        M: count,
        A: call.A + start * call.sam * F32,
        C: call.C + start * call.ldc * F32,
      };
    case "N":
      return {
        ...call,
        N: count,
        B: call.B + start * call.sbn * F32,
        C: call.C + start * F32,
        bias: call.flags & GEMM_BIAS ? call.bias + start * F32 : call.bias,
      };
  }
}

/**
 * `call` cut into at most `parts` calls over disjoint parts of C (the first
 * runs on the calling thread). The cut is the first of G1, G2 (a single outer
 * batch), M (when `M ≥ N`), N that gives `parts` parts, else the one giving
 * the most. A call too small to be worth waking a thread for, or with nothing
 * to cut, comes back whole. Every part keeps `call`'s scratch address: the
 * caller gives each part on another thread its own.
 */
export function splitGemm(call: GemmCall, parts: number): GemmCall[] {
  const { M, N, K, G1, G2 } = call;
  if (parts < 2 || M * N * K * G1 * G2 < GEMM_SPLIT_MIN_WORK) return [call];
  let best: { cut: Cut; cuts: [number, number][] } | undefined;
  for (const cut of ["G1", "G2", "M", "N"] as const) {
    const { size, align } = cutUnits(call, cut);
    if (size < 2 * align) continue;
    const cuts = ranges(size, parts, align);
    if (!best || cuts.length > best.cuts.length) best = { cut, cuts };
    if (cuts.length === parts) break;
  }
  if (!best) return [call];
  return best.cuts.map(([start, count]) => part(call, best.cut, start, count));
}
