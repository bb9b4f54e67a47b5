/**
 * The byte-level pieces of the WebAssembly binary format used by the
 * assembler (`kernels/wasm_asm.ts`): LEB128 integers, names, sections,
 * vectors, value-type codes and the opcodes of the instructions novalab's
 * generated kernels use.
 *
 * @module
 */
import type { ValType } from "./wasm_asm.ts";

/** Binary codes of the value types. */
export const TYPE_CODE: Record<ValType, number> = { i32: 0x7f, f32: 0x7d, v128: 0x7b };

/** Unsigned LEB128 encoding of `n`. */
export function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let byte = n & 0x7f;
    n >>>= 7;
    if (n !== 0) byte |= 0x80;
    out.push(byte);
  } while (n !== 0);
  return out;
}

/** Signed LEB128 encoding of `n`. */
export function sleb(n: number): number[] {
  const out: number[] = [];
  for (;;) {
    const byte = n & 0x7f;
    n >>= 7;
    if ((n === 0 && (byte & 0x40) === 0) || (n === -1 && (byte & 0x40) !== 0)) {
      out.push(byte);
      return out;
    }
    out.push(byte | 0x80);
  }
}

/** A name: its UTF-8 length, then its bytes. */
export function name(s: string): number[] {
  const bytes = [...new TextEncoder().encode(s)];
  return [...uleb(bytes.length), ...bytes];
}

/** Section `id` with its size-prefixed `body`. */
export function section(id: number, body: number[]): number[] {
  return [id, ...uleb(body.length), ...body];
}

/** A vector: the item count, then the items. */
export function vec(items: number[][]): number[] {
  return [...uleb(items.length), ...items.flat()];
}

/** Plain (non-prefixed) opcodes by mnemonic (the subset the kernels use). */
export const OP = {
  "i32.eqz": 0x45,
  "i32.eq": 0x46,
  "i32.ne": 0x47,
  "i32.lt_s": 0x48,
  "i32.lt_u": 0x49,
  "i32.gt_s": 0x4a,
  "i32.le_s": 0x4c,
  "i32.ge_s": 0x4e,
  "i32.add": 0x6a,
  "i32.sub": 0x6b,
  "i32.mul": 0x6c,
  "i32.div_s": 0x6d,
  "i32.rem_s": 0x6f,
  "i32.and": 0x71,
  "i32.or": 0x72,
  "i32.shl": 0x74,
  "i32.shr_s": 0x75,
  "f32.add": 0x92,
  "f32.sub": 0x93,
  "f32.mul": 0x94,
  "f32.div": 0x95,
  "f32.max": 0x97,
  "f32.gt": 0x5e,
  "f32.sqrt": 0x91,
  "f32.convert_i32_s": 0xb2,
  select: 0x1b,
  drop: 0x1a,
  return: 0x0f,
} as const;

/** SIMD opcodes (after the 0xfd prefix) by mnemonic (the subset the kernels use). */
export const SIMD = {
  "f32x4.splat": 0x13,
  "f32x4.add": 0xe4,
  "f32x4.sub": 0xe5,
  "f32x4.mul": 0xe6,
  "f32x4.div": 0xe7,
  "f32x4.max": 0xe9,
  "f32x4.gt": 0x44,
  "f32x4.ne": 0x42,
  "f32x4.min": 0xe8,
  "f32x4.pmin": 0xea,
  "f32x4.pmax": 0xeb,
  "f32x4.abs": 0xe0,
  "f32x4.sqrt": 0xe3,
  "f32x4.nearest": 0x6a,
  "i32x4.splat": 0x11,
  "i32x4.add": 0xae,
  "i32x4.shl": 0xab,
  "i32x4.trunc_sat_f32x4_s": 0xf8,
  "i32x4.eq": 0x37,
  "v128.and": 0x4e,
  "v128.or": 0x50,
  "v128.xor": 0x51,
  "v128.bitselect": 0x52,
  "f32x4.relaxed_madd": 0x105,
} as const;
