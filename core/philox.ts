/**
 * Philox4x32-10 (Salmon, Moraes, Dror & Shaw, "Parallel random numbers: as
 * easy as 1, 2, 3", SC 2011; cuRAND's, PyTorch's CUDA and TensorFlow's
 * stateless generator): four 32-bit words from a 128-bit counter and a 64-bit key, with no
 * state. Any random number is a pure function of where it sits, so the GPU
 * draws it in a shader thread and the CPU draws the same bits in
 * JavaScript — one random stream on every backend, and nothing to upload
 * per step but the key.
 *
 * Here in both languages: {@linkcode philox4x32} (JavaScript) and
 * {@linkcode PHILOX_WGSL} (`philox4x32(counter, key)` in WGSL), and the
 * Box–Muller map of four words to four standard normal deviates
 * ({@linkcode normalsFromBits}, WGSL `normals4`). The words agree bit for
 * bit (Random123's known answers in the test); the normals agree to float32
 * rounding (WGSL computes the uniforms, `log`, `cos`, `sin` in f32).
 *
 * @module
 */

const M0 = 0xd2511f53;
const M1 = 0xcd9e8d57;
const W0 = 0x9e3779b9;
const W1 = 0xbb67ae85;
const TWO_32 = 4294967296;

/** High 32 bits of the 64-bit product of two unsigned 32-bit integers (16-bit limbs: exact). */
function mulhi(a: number, b: number): number {
  const al = a & 0xffff, ah = a >>> 16, bl = b & 0xffff, bh = b >>> 16;
  const lh = al * bh, hl = ah * bl;
  const mid = ((al * bl) >>> 16) + (lh & 0xffff) + (hl & 0xffff);
  return (ah * bh + (lh >>> 16) + (hl >>> 16) + (mid >>> 16)) >>> 0;
}

/**
 * Philox4x32-10 of `counter` under `key`, written into `out` (4 words).
 *
 * @param counter Four unsigned 32-bit words.
 * @param key Two unsigned 32-bit words.
 * @param out Receives the four output words.
 * @returns `out`.
 */
export function philox4x32(
  counter: readonly [number, number, number, number],
  key: readonly [number, number],
  out: Uint32Array = new Uint32Array(4),
): Uint32Array {
  philoxWords(counter[0], counter[1], counter[2], counter[3], key[0], key[1], out);
  return out;
}

/**
 * {@linkcode philox4x32} with the counter and key as separate words (no
 * arrays on a hot loop).
 *
 * @param c0 Counter word 0 (then `c1`, `c2`, `c3`).
 * @param c1 Counter word 1.
 * @param c2 Counter word 2.
 * @param c3 Counter word 3.
 * @param k0 Key word 0.
 * @param k1 Key word 1.
 * @param out Receives the four output words.
 */
export function philoxWords(
  c0: number,
  c1: number,
  c2: number,
  c3: number,
  k0: number,
  k1: number,
  out: Uint32Array,
): void {
  for (let round = 0; round < 10; round++) {
    const hi0 = mulhi(M0, c0), lo0 = Math.imul(M0, c0) >>> 0;
    const hi1 = mulhi(M1, c2), lo1 = Math.imul(M1, c2) >>> 0;
    c0 = (hi1 ^ c1 ^ k0) >>> 0;
    c1 = lo1;
    c2 = (hi0 ^ c3 ^ k1) >>> 0;
    c3 = lo0;
    k0 = (k0 + W0) >>> 0;
    k1 = (k1 + W1) >>> 0;
  }
  out[0] = c0;
  out[1] = c1;
  out[2] = c2;
  out[3] = c3;
}

/**
 * The 64-bit key of a seed: its low and high 32-bit words (two's complement
 * for negative seeds).
 *
 * @param seed Any safe integer.
 * @returns `[low, high]`, unsigned 32-bit words.
 */
export function philoxKey(seed: number): [number, number] {
  if (!Number.isSafeInteger(seed)) {
    throw new RangeError(`philoxKey: seed must be a safe integer, got ${seed}; e.g. 0 or 42`);
  }
  return [seed >>> 0, Math.floor(seed / TWO_32) >>> 0];
}

/**
 * `(w >> 8 + ½) / 2²⁴`: a uniform in (0, 1) (exact in float64; WGSL rounds it to f32).
 *
 * @param w An unsigned 32-bit Philox word.
 * @returns Its top 24 bits as a uniform strictly between 0 and 1.
 */
export function uniformFromWord(w: number): number {
  return ((w >>> 8) + 0.5) / 16777216;
}

/**
 * Four standard normal deviates from four Philox words: Box–Muller on the
 * pairs (w0, w1) and (w2, w3), `r = √(−2 ln u)`, `θ = π(2v − 1)`, giving
 * `r cos θ, r sin θ` (θ kept in [−π, π], where Vulkan bounds the error of
 * `cos`/`sin`).
 *
 * @param bits Four unsigned 32-bit words.
 * @param out Receives the deviates at `out[at … at+3]`, as many as fit.
 * @param at First index written.
 */
export function normalsFromBits(bits: Uint32Array, out: Float64Array, at: number): void {
  for (let pair = 0; pair < 2; pair++) {
    if (at + 2 * pair >= out.length) return;
    const r = Math.sqrt(Math.max(-2 * Math.log(uniformFromWord(bits[2 * pair]!)), 0));
    const theta = Math.PI * (2 * uniformFromWord(bits[2 * pair + 1]!) - 1);
    out[at + 2 * pair] = r * Math.cos(theta);
    if (at + 2 * pair + 1 < out.length) out[at + 2 * pair + 1] = r * Math.sin(theta);
  }
}

/**
 * WGSL: `philox4x32(counter : vec4<u32>, key : vec2<u32>) -> vec4<u32>` and
 * `normals4(bits : vec4<u32>) -> vec4<f32>`, the same functions as
 * {@linkcode philox4x32} and {@linkcode normalsFromBits}.
 */
export const PHILOX_WGSL = `
fn philoxMulhi(a : u32, b : u32) -> u32 {
  let al = a & 0xffffu; let ah = a >> 16u; let bl = b & 0xffffu; let bh = b >> 16u;
  let lh = al * bh; let hl = ah * bl;
  let mid = ((al * bl) >> 16u) + (lh & 0xffffu) + (hl & 0xffffu);
  return ah * bh + (lh >> 16u) + (hl >> 16u) + (mid >> 16u);
}

fn philox4x32(counter : vec4<u32>, key : vec2<u32>) -> vec4<u32> {
  var c = counter;
  var k = key;
  for (var i = 0; i < 10; i++) {
    let hi0 = philoxMulhi(${M0}u, c.x); let lo0 = ${M0}u * c.x;
    let hi1 = philoxMulhi(${M1}u, c.z); let lo1 = ${M1}u * c.z;
    c = vec4<u32>(hi1 ^ c.y ^ k.x, lo1, hi0 ^ c.w ^ k.y, lo0);
    k = k + vec2<u32>(${W0}u, ${W1}u);
  }
  return c;
}

fn philoxUnit(w : u32) -> f32 {
  // k + ½ needs 25 bits: from k = 2²³ on f32 rounds it, and k = 2²⁴ − 1 to 2²⁴ (u = 1, r = 0);
  // the largest f32 below 1 keeps r > 0 (JavaScript's u, exact in f64, is below 1 anyway).
  return min((f32(w >> 8u) + 0.5) / 16777216.0, 0.99999994);
}

fn normals4(bits : vec4<u32>) -> vec4<f32> {
  let r0 = sqrt(max(-2.0 * log(philoxUnit(bits.x)), 0.0));
  let t0 = 3.14159265358979 * (2.0 * philoxUnit(bits.y) - 1.0);
  let r1 = sqrt(max(-2.0 * log(philoxUnit(bits.z)), 0.0));
  let t1 = 3.14159265358979 * (2.0 * philoxUnit(bits.w) - 1.0);
  return vec4<f32>(r0 * cos(t0), r0 * sin(t0), r1 * cos(t1), r1 * sin(t1));
}
`;
