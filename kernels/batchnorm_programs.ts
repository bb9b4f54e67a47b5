/**
 * WGSL programs of the fused training-mode batch normalisation
 * (`kernels/batchnorm.ts`) over a `[rows, dim]` view, normalising each column
 * over the rows with the biased batch variance, then applying scale, shift
 * and an activation (`kernels/activation_wgsl.ts`):
 *
 * - forward: `z = (x − μ)·(σ² + ε)^-½·γ + β`, `y = act(z)`, and the columns'
 *   `μ` and `σ²` (extra outputs, for the backward pass and running estimates);
 * - backward: with `x̂ = (x − μ)·rstd` and `dz = dy·act'(z)` (z recomputed),
 *   `dβ = Σ dz`, `dγ = Σ dz·x̂` and
 *   `dx = γ·rstd/N · (N·dz − dβ − x̂·dγ)` — one dispatch for all three.
 *
 * A workgroup owns 32 adjacent columns (coalesced row reads) and 8 row lanes;
 * each column's sums are reduced over the lanes in workgroup memory. Every
 * pass of a column stays in its workgroup, so each program is one dispatch.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { activationFunctions, type PointwiseActivation } from "./activation_wgsl.ts";
import { gridFor } from "./row_reduce.ts";
import { readWriteLine } from "./extra_outputs.ts";

/** Adjacent columns per workgroup. */
export const BATCH_NORM_COLUMNS = 32;
/** Row lanes per workgroup. */
export const BATCH_NORM_LANES = 8;

const C = BATCH_NORM_COLUMNS, R = BATCH_NORM_LANES;

/**
 * WGSL: `nlColumnSum(v)` sums a `vec2<f32>` over the 8 row lanes of each of a
 * workgroup's 32 columns (`localId.x` the column, `localId.y` the lane); every
 * lane gets its column's total. Call it from uniform control flow.
 */
export function columnPrelude(): string {
  const steps: string[] = [];
  for (let s = R / 2; s >= 1; s /= 2) {
    steps.push(
      `if (r < ${s}u) { nlCols[r * ${C}u + c] = nlCols[r * ${C}u + c] + ` +
        `nlCols[(r + ${s}u) * ${C}u + c]; } workgroupBarrier();`,
    );
  }
  return `
var<workgroup> nlCols: array<vec2<f32>, ${C * R}>;
fn nlColumnSum(v : vec2<f32>) -> vec2<f32> {
  let c = localId.x;
  let r = localId.y;
  nlCols[r * ${C}u + c] = v;
  workgroupBarrier();
  ${steps.join("\n  ")}
  let total = nlCols[c];
  workgroupBarrier();
  return total;
}`;
}

/** WGSL statements naming `col`, `lane`, `N`, `D` and `valid` in `main`. */
const MAIN_PRELUDE = `
  let group = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let col = group * ${C} + i32(localId.x);
  let lane = i32(localId.y);
  let N = uniforms.rows;
  let D = uniforms.dim;
  let valid = col < D;`;

/** Shared shape of both programs: non-flat layout (`main()` takes no index), one workgroup per 32 columns. */
abstract class ColumnProgram implements WebGPUProgram {
  /** Tensors the program reads (and the extra outputs it writes). */
  abstract variableNames: string[];
  /** `[rows, dim]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey: string;
  /** Non-flat so that `main()` takes no index. */
  dispatchLayout = { x: [0], y: [1] };
  /** Workgroups: one per 32 columns. */
  dispatch: [number, number, number];
  /** 32 columns × 8 row lanes. */
  workgroupSize: [number, number, number] = [C, R, 1];
  /** Program uniforms. */
  uniforms = "rows : i32, dim : i32, eps : f32,";

  constructor(
    rows: number,
    dim: number,
    limit: number,
    readonly activation: PointwiseActivation,
    name: string,
  ) {
    this.outputShape = [rows, dim];
    this.dispatch = gridFor(Math.ceil(dim / C), limit);
    this.shaderKey = `${name}_${activation}`;
  }

  /** WGSL user code. */
  abstract getUserCode(): string;
}

/** Forward: `y = act(BN(x))`, writing the columns' mean and biased variance. */
export class NovalabBatchNormProgram extends ColumnProgram {
  /** `batchMean` and `batchVariance` `[dim]` are written. */
  variableNames = ["x", "gamma", "beta", "batchMean", "batchVariance"];

  /** Builds the program for `rows × dim`; `limit` is the device's workgroups-per-dimension. */
  constructor(rows: number, dim: number, limit: number, activation: PointwiseActivation) {
    super(rows, dim, limit, activation, "novalabBatchNorm");
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${columnPrelude()}
${readWriteLine(["batchMean", "batchVariance"])}
${activationFunctions(this.activation)}
fn main() {
  ${MAIN_PRELUDE}
  var s = 0.0;
  if (valid) { for (var i = lane; i < N; i += ${R}) { s += x[i * D + col]; } }
  let mu = nlColumnSum(vec2<f32>(s, 0.0)).x / f32(N);
  var q = 0.0;
  if (valid) { for (var i = lane; i < N; i += ${R}) { let d = x[i * D + col] - mu; q += d * d; } }
  let variance = nlColumnSum(vec2<f32>(q, 0.0)).x / f32(N);
  if (valid) {
    let rstd = inverseSqrt(variance + uniforms.eps);
    let g = gamma[col];
    let b = beta[col];
    for (var i = lane; i < N; i += ${R}) {
      result[i * D + col] = nlAct((x[i * D + col] - mu) * rstd * g + b);
    }
    if (lane == 0) { batchMean[col] = mu; batchVariance[col] = variance; }
  }
}`;
  }
}

/** Backward: `dx` (the output), `dγ` and `dβ` `[dim]` (written) in one pass pair. */
export class NovalabBatchNormBackwardProgram extends ColumnProgram {
  /** `dGamma` and `dBeta` are written. */
  variableNames = ["x", "gamma", "beta", "batchMean", "batchVariance", "dy", "dGamma", "dBeta"];

  /** Builds the program for `rows × dim`; `limit` is the device's workgroups-per-dimension. */
  constructor(rows: number, dim: number, limit: number, activation: PointwiseActivation) {
    super(rows, dim, limit, activation, "novalabBatchNormBackward");
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${columnPrelude()}
${readWriteLine(["dGamma", "dBeta"])}
${activationFunctions(this.activation)}
fn main() {
  ${MAIN_PRELUDE}
  var mu = 0.0;
  var rstd = 0.0;
  var g = 0.0;
  var b = 0.0;
  if (valid) {
    mu = batchMean[col];
    rstd = inverseSqrt(batchVariance[col] + uniforms.eps);
    g = gamma[col];
    b = beta[col];
  }
  var sums = vec2<f32>(0.0, 0.0);
  if (valid) {
    for (var i = lane; i < N; i += ${R}) {
      let xh = (x[i * D + col] - mu) * rstd;
      let dz = dy[i * D + col] * nlActGrad(xh * g + b);
      sums += vec2<f32>(dz, dz * xh);
    }
  }
  let total = nlColumnSum(sums);
  if (valid) {
    let k = g * rstd / f32(N);
    for (var i = lane; i < N; i += ${R}) {
      let xh = (x[i * D + col] - mu) * rstd;
      let dz = dy[i * D + col] * nlActGrad(xh * g + b);
      result[i * D + col] = k * (f32(N) * dz - total.x - xh * total.y);
    }
    if (lane == 0) { dBeta[col] = total.x; dGamma[col] = total.y; }
  }
}`;
  }
}

/**
 * The running estimates' update after a step, both in one dispatch and in
 * place: `mean ← (1 − m)·mean + m·μ` and `var ← (1 − m)·var + (m·n/(n − 1))·σ²`.
 */
export class NovalabRunningStatsProgram implements WebGPUProgram {
  /** Running statistics (updated in place), batch statistics, then, gated, the step report. */
  variableNames: string[];
  /** One unused element (tfjs programs have an output). */
  outputShape = [1];
  /** Cache key. */
  shaderKey: string;
  /** Flat: `main(index)`. */
  dispatchLayout = { x: [0] };
  /** Workgroups (tfjs folds an over-limit grid). */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [64, 1, 1];
  /** Program uniforms: width, momentum m and m·n/(n − 1). */
  uniforms = "dim : i32, momentum : f32, varianceMomentum : f32,";

  /**
   * Builds the program for `dim` columns; `gated` binds `guard`, a step report
   * (`core/step_guard.ts`) whose element 1 is 0 when the step was skipped: the
   * estimates are then copied unchanged.
   */
  constructor(dim: number, readonly gated = false) {
    this.dispatch = [Math.ceil(dim / 64), 1, 1];
    this.variableNames = [
      "runningMean",
      "runningVariance",
      "batchMean",
      "batchVariance",
      ...(gated ? ["guard"] : []),
    ];
    this.shaderKey = `novalabBatchNormRunningStats${gated ? "_gated" : ""}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${readWriteLine(["runningMean", "runningVariance"])}
fn main(index : i32) {
  if (index == 0) { result[0] = 0.0; } // the unused output must stay bound
  if (index >= uniforms.dim) { return; }
  ${this.gated ? "if (guard[1] == 0.0) { return; }" : ""}
  let keep = 1.0 - uniforms.momentum;
  runningMean[index] = runningMean[index] * keep + batchMean[index] * uniforms.momentum;
  runningVariance[index] = runningVariance[index] * keep +
    batchVariance[index] * uniforms.varianceMomentum;
}`;
  }
}
