/**
 * WGSL fragments of the register-tiled matmul (`kernels/matmul_program.ts`)
 * that depend on how a workgroup lays out its work: staging a `bk`-deep slice
 * of A or B from global into workgroup memory (optionally through registers,
 * one slice ahead), and which outputs each thread owns.
 *
 * Two layout choices exist per tile ({@linkcode MatMulTile}):
 *
 * - **blocked** (default): a thread owns a contiguous `tm × tn` block, so its
 *   `vec4` reads of a staged row are `tn/4` apart between neighbouring threads;
 * - **interleaved**: a thread's `vec4` groups are strided by the workgroup's
 *   width, so neighbouring threads read neighbouring `vec4`s of workgroup
 *   memory (no bank conflicts on 128-bit loads) and store neighbouring
 *   `vec4`s of C.
 *
 * **Prefetch** loads the next slice into registers before the current one is
 * multiplied, so the global-load latency overlaps the FMAs of the same
 * threads (a workgroup of 256 threads with 64 accumulators each leaves an SM
 * few other warps to switch to). **Double buffering** keeps two copies of the
 * slices in workgroup memory and stores the prefetched slice into the idle one
 * after the products, so a slice costs one barrier instead of two.
 *
 * @module
 */
import type { MatMulTile } from "./matmul_program.ts";

/** Largest finite f16; staged values saturate here instead of overflowing. */
const F16_MAX = "65504.0";

/** vec4 lane names in order. */
export const LANES = ["x", "y", "z", "w"];

/** WGSL that narrows the f32 expression `v` (a `vec4` when `vector`) to the staged type. */
export function narrow(v: string, f16: boolean, vector: boolean): string {
  if (!f16) return v;
  return vector
    ? `vec4<f16>(clamp(${v}, vec4<f32>(-${F16_MAX}), vec4<f32>(${F16_MAX})))`
    : `f16(clamp(${v}, -${F16_MAX}, ${F16_MAX}))`;
}

/** Index (in `vec4`s, within one staged k-row) of a thread's `i`-th vec4 group of A rows. */
export function aGroup(t: MatMulTile, i: number): string {
  return t.interleave ? `${i * t.wgY} + ty` : `ty * ${t.tm / 4} + ${i}`;
}

/** Index (in `vec4`s, within one staged k-row) of a thread's `j`-th vec4 group of B columns. */
export function bGroup(t: MatMulTile, j: number): string {
  return t.interleave ? `${j * t.wgX} + tx` : `tx * ${t.tn / 4} + ${j}`;
}

/** WGSL: the output row of a thread's accumulator row `i` (0 ≤ i < tm). */
export function outputRow(t: MatMulTile, i: number): string {
  return t.interleave
    ? `row0 + (${aGroup(t, i >> 2)}) * 4 + ${i & 3}`
    : `row0 + ty * ${t.tm} + ${i}`;
}

/** WGSL: the first output column of a thread's vec4 group `j` (0 ≤ j < tn/4). */
export function outputCol(t: MatMulTile, j: number): string {
  return `col0 + (${bGroup(t, j)}) * 4`;
}

/** The staging of one operand: register declarations, global loads into them, stores to workgroup memory. */
export interface Staging {
  /** `var` declarations of the staging registers (before the k loop). */
  declarations: string;
  /** Loads of the slice starting at depth `kBase` into the registers. */
  loads: string;
  /** Stores of the registers into workgroup memory `Xs`. */
  stores: string;
}

/**
 * WGSL that stages one `bk`-deep slice of operand `X` (A or B) into workgroup
 * memory `Xs`, stored `[bk][T]` with T the tile's outer extent. `kMajor`: the
 * operand is contiguous along k (A untransposed, B transposed). Out-of-range
 * rows, columns and depths load as zero.
 */
export function stageOperand(
  x: "A" | "B",
  t: MatMulTile,
  kMajor: boolean,
  vec4: boolean,
  f16: boolean,
): Staging {
  const outer = x === "A" ? t.wgY * t.tm : t.wgX * t.tn;
  const o0 = x === "A" ? "row0" : "col0";
  const extent = x === "A" ? "M" : "N";
  const threads = t.wgX * t.wgY;
  const units = vec4 ? (outer * t.bk) / 4 : outer * t.bk;
  if (units % threads !== 0) {
    throw new Error(`kernels/matmul_program.ts: tile ${t.name} does not divide its ${x} loads`);
  }
  const q = outer / 4;
  const sb = t.doubleBuffer ? `s${x} + ` : ""; // the copy being filled (set by the k loop)
  const declarations: string[] = [], loads: string[] = [], stores: string[] = [];
  for (let s = 0; s < units / threads; s++) {
    const u = `li + ${s * threads}`;
    const reg = `p${x}${s}`;
    if (vec4 && kMajor) {
      const split = `let o = (${u}) / ${t.bk / 4}; let kq = (${u}) % ${t.bk / 4};`;
      declarations.push(`var ${reg} = vec4<f32>(0.0);`);
      loads.push(`{ ${split} let og = ${o0} + o; let kg = kBase + kq * 4; ${reg} = vec4<f32>(0.0);
      if (og < ${extent} && kg < K) { ${reg} = ${x}[(off${x} + og * K + kg) / 4]; } }`);
      stores.push(`{ ${split} let h = ${narrow(reg, f16, true)};
      ${
        LANES.map((l, i) => `${x}s[${sb}(kq * 4 + ${i}) * ${q} + o / 4][o % 4] = h.${l};`)
          .join(" ")
      } }`);
    } else if (vec4) {
      const split = `let kk = (${u}) / ${q}; let oq = (${u}) % ${q};`;
      declarations.push(`var ${reg} = vec4<f32>(0.0);`);
      loads.push(`{ ${split} let og = ${o0} + oq * 4; let kg = kBase + kk; ${reg} = vec4<f32>(0.0);
      if (og < ${extent} && kg < K) { ${reg} = ${x}[(off${x} + kg * ${extent} + og) / 4]; } }`);
      stores.push(`{ ${split} ${x}s[${sb}kk * ${q} + oq] = ${narrow(reg, f16, true)}; }`);
    } else {
      const split = kMajor
        ? `let o = (${u}) / ${t.bk}; let kk = (${u}) % ${t.bk};`
        : `let kk = (${u}) / ${outer}; let o = (${u}) % ${outer};`;
      const index = kMajor ? `off${x} + og * K + kg` : `off${x} + kg * ${extent} + og`;
      declarations.push(`var ${reg} = 0.0;`);
      loads.push(`{ ${split} let og = ${o0} + o; let kg = kBase + kk; ${reg} = 0.0;
      if (og < ${extent} && kg < K) { ${reg} = ${x}[${index}]; } }`);
      stores.push(
        `{ ${split} ${x}s[${sb}kk * ${q} + o / 4][o % 4] = ${narrow(reg, f16, false)}; }`,
      );
    }
  }
  return {
    declarations: declarations.join(" "),
    loads: loads.join("\n    "),
    stores: stores.join("\n    "),
  };
}

/**
 * WGSL of the k loop over `[kBegin, kEnd)`: stage both operands, multiply
 * (`body`: the unrolled products and any per-slice sums), and — with
 * `t.prefetch` — load slice k + bk into registers while slice k is multiplied;
 * with `t.doubleBuffer`, also store it into the other workgroup copy.
 */
export function kLoop(t: MatMulTile, a: Staging, b: Staging, body: string): string {
  if (t.doubleBuffer) return doubleBufferedKLoop(t, a, b, body);
  if (!t.prefetch) {
    return `  ${a.declarations} ${b.declarations}
  for (var k0 = kBegin; k0 < kEnd; k0 += ${t.bk}) {
    { let kBase = k0;
    ${a.loads}
    ${b.loads} }
    ${a.stores}
    ${b.stores}
    workgroupBarrier();
${body}
    workgroupBarrier();
  }`;
  }
  return `  ${a.declarations} ${b.declarations}
  { let kBase = kBegin;
    ${a.loads}
    ${b.loads} }
  for (var k0 = kBegin; k0 < kEnd; k0 += ${t.bk}) {
    ${a.stores}
    ${b.stores}
    workgroupBarrier();
    { let kBase = k0 + ${t.bk};
      if (kBase < kEnd) {
    ${a.loads}
    ${b.loads} } }
${body}
    workgroupBarrier();
  }`;
}

/**
 * The double-buffered k loop: slice k is read from copy `cur` (offsets `rA`,
 * `rB` in `vec4`s) while slice k + bk is loaded into registers and stored into
 * copy `1 − cur` (`sA`, `sB`). One barrier per slice: after it every thread
 * has finished reading copy `cur` (refilled two slices later) and has stored
 * copy `1 − cur` (read next).
 */
function doubleBufferedKLoop(t: MatMulTile, a: Staging, b: Staging, body: string): string {
  const copyA = (t.bk * t.wgY * t.tm) / 4, copyB = (t.bk * t.wgX * t.tn) / 4;
  return `  ${a.declarations} ${b.declarations}
  { let kBase = kBegin;
    ${a.loads}
    ${b.loads} }
  { let sA = 0; let sB = 0;
    ${a.stores}
    ${b.stores} }
  workgroupBarrier();
  var cur = 0;
  for (var k0 = kBegin; k0 < kEnd; k0 += ${t.bk}) {
    let more = k0 + ${t.bk} < kEnd;
    if (more) { let kBase = k0 + ${t.bk};
    ${a.loads}
    ${b.loads} }
    { let rA = cur * ${copyA}; let rB = cur * ${copyB};
${body} }
    if (more) { let sA = (1 - cur) * ${copyA}; let sB = (1 - cur) * ${copyB};
    ${a.stores}
    ${b.stores} }
    workgroupBarrier();
    cur = 1 - cur;
  }`;
}
