/**
 * FNV-1a, the 32-bit string hash novalab's caches name their entries with
 * (text embeddings, tuned matmul tilings). Not cryptographic: it tells
 * versions apart, it does not guard against tampering.
 *
 * @module
 */

const encoder = new TextEncoder();

/** FNV-1a 32-bit hash of `text`'s UTF-8 bytes, as an unsigned integer. */
export function fnv1a32(text: string): number {
  let h = 0x811c9dc5;
  for (const byte of encoder.encode(text)) h = Math.imul(h ^ byte, 0x01000193) >>> 0;
  return h;
}

/** FNV-1a 32-bit hash of `text`'s UTF-8 bytes, as 8 hex digits. */
export function fnv1a(text: string): string {
  return fnv1a32(text).toString(16).padStart(8, "0");
}
