/**
 * IEEE 754 half precision (F16) and bfloat16 (BF16) widened to float32, as
 * checkpoints from PyTorch and the Hugging Face hub often store weights. Both
 * conversions are exact: every F16 and BF16 value is a float32 value.
 *
 * @module
 */

/** Float32 of one F16 bit pattern (sign, 5-bit exponent, 10-bit fraction). */
export function f16ToF32(bits: number): number {
  const sign = bits & 0x8000 ? -1 : 1;
  const exponent = (bits >> 10) & 0x1f;
  const fraction = bits & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24; // zero and subnormals
  if (exponent === 0x1f) return fraction ? NaN : sign * Infinity;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

/**
 * Widens `count` little-endian 16-bit values of `bytes` (F16 or BF16) to a
 * new Float32Array.
 *
 * @param bytes The values' bytes (`2 · count` of them).
 * @param dtype `F16` (IEEE half) or `BF16` (the upper half of a float32).
 */
export function widenHalf(bytes: Uint8Array, dtype: "F16" | "BF16"): Float32Array {
  const count = bytes.length >> 1;
  const out = new Float32Array(count);
  if (dtype === "BF16") {
    const words = new Uint32Array(out.buffer);
    for (let i = 0; i < count; i++) words[i] = (bytes[2 * i]! | (bytes[2 * i + 1]! << 8)) << 16;
    return out;
  }
  // 65536 possible patterns: a table beats per-value arithmetic on large tensors.
  const table = f16Table();
  for (let i = 0; i < count; i++) out[i] = table[bytes[2 * i]! | (bytes[2 * i + 1]! << 8)]!;
  return out;
}

let table: Float32Array | undefined;

function f16Table(): Float32Array {
  if (!table) {
    table = new Float32Array(65536);
    for (let bits = 0; bits < 65536; bits++) table[bits] = f16ToF32(bits);
  }
  return table;
}
