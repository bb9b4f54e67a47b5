/**
 * Shared pieces of the row kernels (one workgroup per row of a `[rows, dim]`
 * view): the workgroup size for a row width, a grid that keeps every dispatch
 * dimension under the device limit, and a WGSL workgroup sum reduction.
 *
 * @module
 */

/** Threads per workgroup for rows of width `dim` (a power of two, 32…256). */
export function rowWorkgroupSize(dim: number): number {
  if (dim <= 128) return 32;
  if (dim <= 512) return 64;
  if (dim <= 2048) return 128;
  return 256;
}

/**
 * Workgroup grid with at least `groups` workgroups and no dimension above
 * `limit`; the shader numbers them `x + y · numWorkgroups.x` and skips the extras.
 */
export function gridFor(groups: number, limit: number): [number, number, number] {
  const y = Math.ceil(groups / limit);
  return [Math.ceil(groups / y), y, 1];
}

/**
 * WGSL: `nlReduce(v)` sums a `vec2<f32>` over the workgroup of `size` threads
 * (tree reduction in workgroup memory; every thread gets the total). It calls
 * `workgroupBarrier`, so call it from uniform control flow.
 */
export function workgroupSumSnippet(size: number): string {
  const steps: string[] = [];
  for (let s = size / 2; s >= 1; s /= 2) {
    steps.push(
      `if (li < ${s}u) { nlRed[li] = nlRed[li] + nlRed[li + ${s}u]; } workgroupBarrier();`,
    );
  }
  return `
var<workgroup> nlRed: array<vec2<f32>, ${size}>;
fn nlReduce(v: vec2<f32>) -> vec2<f32> {
  let li = localIndex;
  nlRed[li] = v;
  workgroupBarrier();
  ${steps.join("\n  ")}
  let total = nlRed[0];
  workgroupBarrier();
  return total;
}`;
}

/** WGSL: the row this workgroup handles (`row`), whether it exists (`valid`) and its offset. */
export const ROW_PRELUDE = `
  let row = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let D = uniforms.dim;
  let valid = row < uniforms.rows;
  let base = row * D;
  let t = i32(localIndex);`;

/**
 * WGSL: `nlCombine(a, b)` merges two running log-sum-exp shares
 * `(max m, Σ e^{x−m})` (`m = max(m₁, m₂)`, `s = s₁·e^{m₁−m} + s₂·e^{m₂−m}`), and
 * `nlCombineAll(v)` merges one share per thread over the workgroup of `size`
 * threads (every thread gets the total; `lse = m + ln s`). It calls
 * `workgroupBarrier`, so call it from uniform control flow; start a share at
 * `(−3·10³⁸, 0)` (WGSL may assume no infinities).
 */
export function workgroupLseSnippet(size: number): string {
  const steps: string[] = [];
  for (let s = size / 2; s >= 1; s /= 2) {
    steps.push(
      `if (li < ${s}u) { nlShares[li] = nlCombine(nlShares[li], nlShares[li + ${s}u]); } ` +
        "workgroupBarrier();",
    );
  }
  return `
fn nlCombine(a : vec2<f32>, b : vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}
var<workgroup> nlShares : array<vec2<f32>, ${size}>;
fn nlCombineAll(v : vec2<f32>) -> vec2<f32> {
  let li = localIndex;
  nlShares[li] = v;
  workgroupBarrier();
  ${steps.join("\n  ")}
  let total = nlShares[0];
  workgroupBarrier();
  return total;
}`;
}
