/**
 * WGSL programs of the fused log-sum-exp over one axis of a matrix
 * (`kernels/logsumexp.ts`). Each thread keeps a running `(max m, Σ e^{x−m})`
 * over its share of the entries; shares combine as
 * `m = max(m₁, m₂)`, `s = s₁·e^{m₁−m} + s₂·e^{m₂−m}`, and `lse = m + ln s` —
 * one pass over x, stable for any logits (the op composition took a max, a
 * subtraction, an exp, a sum, a log and an add, six dispatches).
 *
 * - rows (`axis 1`): one workgroup per row;
 * - columns (`axis 0`): a workgroup owns 32 adjacent columns × 8 row lanes;
 * - gradient: `dx = dy[k]·e^{x − lse[k]}` (k the row or column), one thread per entry.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { gridFor, rowWorkgroupSize } from "./row_reduce.ts";
import { FlatProgram } from "./program_base.ts";
import { BATCH_NORM_COLUMNS as C, BATCH_NORM_LANES as R } from "./batchnorm_programs.ts";

/** A running maximum that no finite logit is below (WGSL may assume no infinities). */
const LOWEST = "-3.0e38";

/** WGSL: `nlCombine` of two `(m, s)` shares and `nlLse` of one. */
const COMBINE = `
fn nlCombine(a : vec2<f32>, b : vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}
fn nlAdd(acc : vec2<f32>, x : f32) -> vec2<f32> { return nlCombine(acc, vec2<f32>(x, 1.0)); }`;

/** Log-sum-exp of each row (`axis 1`) or column (`axis 0`) of `[rows, cols]` → `[rows]` / `[cols]`. */
export class NovalabLogSumExpProgram implements WebGPUProgram {
  /** The matrix. */
  variableNames = ["x"];
  /** `[rows]` or `[cols]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey: string;
  /** Non-flat so that `main()` takes no index. */
  dispatchLayout = { x: [0], y: [1] };
  /** Workgroups. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number];
  /** Program uniforms. */
  uniforms = "rows : i32, cols : i32,";

  /** Builds the program for `[rows, cols]` reduced over `axis`; `limit` bounds each grid dimension. */
  constructor(rows: number, cols: number, readonly axis: 0 | 1, limit: number) {
    if (axis === 1) {
      this.outputShape = [rows];
      this.workgroupSize = [rowWorkgroupSize(cols), 1, 1];
      this.dispatch = gridFor(rows, limit);
    } else {
      this.outputShape = [cols];
      this.workgroupSize = [C, R, 1];
      this.dispatch = gridFor(Math.ceil(cols / C), limit);
    }
    this.shaderKey = `novalabLogSumExp_${axis}_${this.workgroupSize[0]}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const [sx, sy] = this.workgroupSize;
    const size = sx * sy;
    const steps: string[] = [];
    // Rows: a tree over all threads; columns: over the 8 lanes of each column.
    for (let s = size / 2; s >= (this.axis === 1 ? 1 : C); s /= 2) {
      steps.push(
        `if (li < ${s}u) { nlShares[li] = nlCombine(nlShares[li], nlShares[li + ${s}u]); } ` +
          "workgroupBarrier();",
      );
    }
    const walk = this.axis === 1
      ? `let k = group; let valid = k < uniforms.rows;
  if (valid) { for (var j = i32(localIndex); j < uniforms.cols; j += ${sx}) { acc = nlAdd(acc, x[k * uniforms.cols + j]); } }`
      : `let k = group * ${C} + i32(localId.x); let valid = k < uniforms.cols;
  if (valid) { for (var i = i32(localId.y); i < uniforms.rows; i += ${R}) { acc = nlAdd(acc, x[i * uniforms.cols + k]); } }`;
    const owner = this.axis === 1 ? "localIndex == 0u" : "localId.y == 0u";
    const slot = this.axis === 1 ? "0u" : "localId.x";
    return `${COMBINE}
var<workgroup> nlShares : array<vec2<f32>, ${size}>;
fn main() {
  let group = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  var acc = vec2<f32>(${LOWEST}, 0.0);
  ${walk}
  let li = localIndex;
  nlShares[li] = acc;
  workgroupBarrier();
  ${steps.join("\n  ")}
  let total = nlShares[${slot}];
  if (valid && ${owner}) { result[k] = total.x + log(total.y); }
}`;
  }
}

/** `dx = dy[k]·e^{x − lse[k]}` over `[rows, cols]`, k the row (`axis 1`) or column (`axis 0`). */
export class NovalabLogSumExpGradProgram extends FlatProgram {
  /** The matrix, its log-sum-exps and their gradient. */
  variableNames = ["x", "lse", "dy"];
  /** Cache key. */
  shaderKey: string;
  /** Program uniforms. */
  uniforms = "units : i32, cols : i32,";

  /** Builds the program for `elements` entries (output `[rows·cols]`) reduced over `axis`. */
  constructor(elements: number, readonly axis: 0 | 1) {
    super(elements);
    this.shaderKey = `novalabLogSumExpGrad_${axis}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const k = this.axis === 1 ? "index / uniforms.cols" : "index % uniforms.cols";
    return `
fn main(index : i32) {
  if (index >= uniforms.units) { return; }
  let k = ${k};
  result[index] = dy[k] * exp(x[index] - lse[k]);
}`;
  }
}
