/**
 * WGSL programs of CLIP's symmetric InfoNCE on a similarity matrix
 * (`kernels/infonce.ts`). With `z = s·S + b` over `S` `[B, B]`:
 *
 * - `NovalabInfoNceLseProgram`: one workgroup per row and one per column, each
 *   keeping a running `(max m, Σ e^{z−m})` per thread → `lse` `[2B]` (rows,
 *   then columns);
 * - `NovalabInfoNceFinishProgram`: one workgroup → the loss
 *   `½·Σ lse / B − (s·Σᵢ Sᵢᵢ / B + b)`;
 * - `NovalabInfoNceGradProgram`: one thread per entry, `dz = dy·((e^{z−lse_row}
 *   + e^{z−lse_col}) / 2B − [i = j] / B)`, writes `dS = s·dz` and per-workgroup
 *   sums of `dz·S` and `dz` (the scale's and bias's gradients) into `partials`;
 * - `NovalabInfoNceGradFinishProgram`: sums the partials → `ds`, `db`.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { gridFor, workgroupSumSnippet } from "./row_reduce.ts";
import { readWriteLine } from "./extra_outputs.ts";

/** Threads per workgroup of every program here. */
export const INFONCE_THREADS = 256;
const T = INFONCE_THREADS;

/** A running maximum that no finite logit is below (WGSL may assume no infinities). */
const LOWEST = "-3.0e38";

const COMBINE = `
fn nlCombine(a : vec2<f32>, b : vec2<f32>) -> vec2<f32> {
  let m = max(a.x, b.x);
  return vec2<f32>(m, a.y * exp(a.x - m) + b.y * exp(b.x - m));
}`;

/** Common fields: flat layout, `main(index0)`, `T` threads, the batch size as a uniform. */
abstract class InfoNceProgram implements WebGPUProgram {
  abstract variableNames: string[];
  abstract outputShape: number[];
  abstract shaderKey: string;
  /** Flat layout: `main(index)` (workgroups number themselves). */
  dispatchLayout = { x: [0] };
  /** Workgroups. */
  dispatch: [number, number, number] = [1, 1, 1];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [T, 1, 1];
  /** Batch size B. */
  uniforms = "batch : i32, groups : i32,";
  /** WGSL user code. */
  abstract getUserCode(): string;
}

/** Log-sum-exp of every row and every column of `s·S + b` → `[2B]`. */
export class NovalabInfoNceLseProgram extends InfoNceProgram {
  /** Similarities, scale, bias. */
  variableNames = ["sim", "scale", "bias"];
  /** `[2B]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey = "novalabInfoNceLse";

  /** Builds the program for a `[batch, batch]` matrix; `limit` bounds each grid dimension. */
  constructor(batch: number, limit: number) {
    super();
    this.outputShape = [2 * batch];
    this.dispatch = gridFor(2 * batch, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    const steps: string[] = [];
    for (let s = T / 2; s >= 1; s /= 2) {
      steps.push(
        `if (li < ${s}u) { nlShares[li] = nlCombine(nlShares[li], nlShares[li + ${s}u]); } ` +
          "workgroupBarrier();",
      );
    }
    return `${COMBINE}
var<workgroup> nlShares : array<vec2<f32>, ${T}>;
fn main(index0 : i32) {
  let w = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let B = uniforms.batch;
  let valid = w < 2 * B;
  let s = scale[0];
  let b = bias[0];
  var acc = vec2<f32>(${LOWEST}, 0.0);
  if (valid) {
    for (var k = i32(localIndex); k < B; k += ${T}) {
      // Rows walk along a row; columns down a column.
      let at = select((k * B) + (w - B), w * B + k, w < B);
      acc = nlCombine(acc, vec2<f32>(s * sim[at] + b, 1.0));
    }
  }
  let li = localIndex;
  nlShares[li] = acc;
  workgroupBarrier();
  ${steps.join("\n  ")}
  if (valid && li == 0u) { result[w] = nlShares[0].x + log(nlShares[0].y); }
}`;
  }
}

/** `½·Σ lse / B − (s·Σᵢ Sᵢᵢ / B + b)` by one workgroup → `[1]`. */
export class NovalabInfoNceFinishProgram extends InfoNceProgram {
  /** Similarities, scale, bias, the log-sum-exps. */
  variableNames = ["sim", "scale", "bias", "lse"];
  /** `[1]`. */
  outputShape = [1];
  /** Cache key. */
  shaderKey = "novalabInfoNceFinish";

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupSumSnippet(T)}
fn main(index0 : i32) {
  let B = uniforms.batch;
  var lseSum = 0.0;
  var diag = 0.0;
  for (var k = i32(localIndex); k < B; k += ${T}) {
    lseSum += lse[k] + lse[B + k];
    diag += sim[k * B + k];
  }
  let total = nlReduce(vec2<f32>(lseSum, diag));
  if (localIndex == 0u) {
    let n = f32(B);
    result[0] = 0.5 * total.x / n - (scale[0] * total.y / n + bias[0]);
  }
}`;
  }
}

/** `dS = s·dz` per entry; per-workgroup `Σ dz·S` and `Σ dz` into `partials` `[2·groups]`. */
export class NovalabInfoNceGradProgram extends InfoNceProgram {
  /** Similarities, scale, bias, log-sum-exps, the loss's gradient; `partials` is written. */
  variableNames = ["sim", "scale", "bias", "lse", "dy", "partials"];
  /** `[B·B]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey = "novalabInfoNceGrad";

  /** Builds the program for a `[batch, batch]` matrix; `limit` bounds each grid dimension. */
  constructor(batch: number, limit: number) {
    super();
    this.outputShape = [batch * batch];
    this.dispatch = gridFor(infoNceGradGroups(batch), limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupSumSnippet(T)}
${readWriteLine(["partials"])}
fn main(index0 : i32) {
  let w = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let B = uniforms.batch;
  let index = w * ${T} + i32(localIndex);
  var dz = 0.0;
  var x = 0.0;
  if (index < B * B) {
    let i = index / B;
    let j = index - i * B;
    x = sim[index];
    let z = scale[0] * x + bias[0];
    let n = f32(B);
    var g = (exp(z - lse[i]) + exp(z - lse[B + j])) / (2.0 * n);
    if (i == j) { g -= 1.0 / n; }
    dz = dy[0] * g;
    result[index] = scale[0] * dz;
  }
  let sums = nlReduce(vec2<f32>(dz * x, dz));
  if (localIndex == 0u && w < uniforms.groups) {
    partials[2 * w] = sums.x;
    partials[2 * w + 1] = sums.y;
  }
}`;
  }
}

/** Workgroups of {@linkcode NovalabInfoNceGradProgram} for batch `B`. */
export function infoNceGradGroups(batch: number): number {
  return Math.ceil((batch * batch) / T);
}

/** `Σ dz·S` (result) and `Σ dz` (written to `dBias`) from the partials, one workgroup. */
export class NovalabInfoNceGradFinishProgram extends InfoNceProgram {
  /** The partial sums; `dBias` is written. */
  variableNames = ["partials", "dBias"];
  /** `[1]`: the scale's gradient. */
  outputShape = [1];
  /** Cache key. */
  shaderKey = "novalabInfoNceGradFinish";

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupSumSnippet(T)}
${readWriteLine(["dBias"])}
fn main(index0 : i32) {
  var acc = vec2<f32>(0.0, 0.0);
  for (var k = i32(localIndex); k < uniforms.groups; k += ${T}) {
    acc += vec2<f32>(partials[2 * k], partials[2 * k + 1]);
  }
  let total = nlReduce(acc);
  if (localIndex == 0u) {
    result[0] = total.x;
    dBias[0] = total.y;
  }
}`;
  }
}
