/**
 * WGSL programs of CLIP's symmetric InfoNCE on a similarity matrix
 * (`kernels/infonce.ts`). With `z = s·S + b` over `S` `[B, B]`:
 *
 * - `NovalabInfoNceLseProgram`: one workgroup per row and one per column, each
 *   keeping a running `(max m, Σ e^{z−m})` per thread → `lse` `[2B]` (rows,
 *   then columns);
 * - `NovalabInfoNceFinishProgram`: one workgroup → the loss
 *   `½·Σ lse / B − (s·Σᵢ Sᵢᵢ / B + b)`, or with target weights `W` `[B, B]`
 *   (`weighted`: UniCL's multi-positive targets, ALBEF's soft ones)
 *   `½·Σ lse / B − Σᵢⱼ Wᵢⱼ zᵢⱼ / B`;
 * - `NovalabInfoNceGradProgram`: one thread per entry, `dz = dy·((e^{z−lse_row}
 *   + e^{z−lse_col}) / 2B − Wᵢⱼ / B)` (`W` the identity unless `weighted`),
 *   writes `dS = s·dz` and per-workgroup sums of `dz·S` and `dz` (the scale's
 *   and bias's gradients) into `partials`;
 * - `NovalabInfoNceGradFinishProgram`: sums the partials → `ds`, `db`.
 *
 * @module
 */
import { workgroupLseSnippet, workgroupSumSnippet } from "./row_reduce.ts";
import { RowProgram } from "./program_base.ts";
import { readWriteLine } from "./extra_outputs.ts";

/** Threads per workgroup of every program here. */
export const INFONCE_THREADS = 256;
const T = INFONCE_THREADS;

/** A running maximum that no finite logit is below (WGSL may assume no infinities). */
const LOWEST = "-3.0e38";
/** Batch size B and the gradient's workgroup count. */
const UNIFORMS = "batch : i32, groups : i32,";

/** Log-sum-exp of every row and every column of `s·S + b` → `[2B]`. */
export class NovalabInfoNceLseProgram extends RowProgram {
  /** Similarities, scale, bias. */
  variableNames = ["sim", "scale", "bias"];
  /** Cache key. */
  shaderKey = "novalabInfoNceLse";
  /** Batch size. */
  uniforms = UNIFORMS;

  /** Builds the program for a `[batch, batch]` matrix; `limit` bounds each grid dimension. */
  constructor(batch: number, limit: number) {
    super([2 * batch], 2 * batch, T, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupLseSnippet(T)}
fn main() {
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
  let total = nlCombineAll(acc);
  if (valid && localIndex == 0u) { result[w] = total.x + log(total.y); }
}`;
  }
}

/** `½·Σ lse / B − (s·Σᵢ Sᵢᵢ / B + b)` (or `− Σ W∘z / B`) by one workgroup → `[1]`. */
export class NovalabInfoNceFinishProgram extends RowProgram {
  /** Similarities, scale, bias, the log-sum-exps (and the target weights). */
  variableNames = ["sim", "scale", "bias", "lse"];
  /** Cache key. */
  shaderKey = "novalabInfoNceFinish";
  /** Batch size. */
  uniforms = UNIFORMS;
  readonly #weighted: boolean;

  /** One workgroup; `weighted` reads target weights `W` `[B, B]` instead of the diagonal. */
  constructor(weighted = false) {
    super([1], 1, T, 1);
    this.#weighted = weighted;
    if (weighted) {
      this.variableNames = [...this.variableNames, "targets"];
      this.shaderKey += "Weighted";
    }
  }

  /** WGSL user code. */
  getUserCode(): string {
    // The targets' part: the diagonal's logits, or every logit weighted by W.
    const targets = this.#weighted
      ? `for (var k = i32(localIndex); k < B * B; k += ${T}) {
    picked += targets[k] * (scale[0] * sim[k] + bias[0]);
  }`
      : `for (var k = i32(localIndex); k < B; k += ${T}) {
    picked += scale[0] * sim[k * B + k] + bias[0];
  }`;
    return `${workgroupSumSnippet(T)}
fn main() {
  let B = uniforms.batch;
  var lseSum = 0.0;
  var picked = 0.0;
  for (var k = i32(localIndex); k < B; k += ${T}) {
    lseSum += lse[k] + lse[B + k];
  }
  ${targets}
  let total = nlReduce(vec2<f32>(lseSum, picked));
  if (localIndex == 0u) {
    let n = f32(B);
    result[0] = 0.5 * total.x / n - total.y / n;
  }
}`;
  }
}

/** `dS = s·dz` per entry; per-workgroup `Σ dz·S` and `Σ dz` into `partials` `[2·groups]`. */
export class NovalabInfoNceGradProgram extends RowProgram {
  /** Similarities, scale, bias, log-sum-exps, the loss's gradient; `partials` is written. */
  variableNames = ["sim", "scale", "bias", "lse", "dy", "partials"];
  /** Cache key. */
  shaderKey = "novalabInfoNceGrad";
  /** Batch size and workgroups. */
  uniforms = UNIFORMS;
  readonly #weighted: boolean;

  /**
   * Builds the program for a `[batch, batch]` matrix; `limit` bounds each grid
   * dimension; `weighted` reads target weights `W` `[B, B]` instead of the identity.
   */
  constructor(batch: number, limit: number, weighted = false) {
    super([batch * batch], infoNceGradGroups(batch), T, limit);
    this.#weighted = weighted;
    if (weighted) {
      // `partials` stays last: runWithExtraOutputs appends it after the inputs.
      this.variableNames = ["sim", "scale", "bias", "lse", "dy", "targets", "partials"];
      this.shaderKey += "Weighted";
    }
  }

  /** WGSL user code. */
  getUserCode(): string {
    const target = this.#weighted
      ? "g -= targets[index] / f32(n);"
      : "if (i == j) { g -= 1.0 / f32(n); }";
    return entryGradSource(
      "sim",
      `let z = scale[0] * x + bias[0];
    g = (exp(z - lse[i]) + exp(z - lse[n + j])) / (2.0 * f32(n));
    ${target}`,
    );
  }
}

/**
 * WGSL of a per-entry gradient of a loss of `z = s·M (+ b)` over a square
 * matrix `matrix` `[n, n]` (`n = uniforms.batch`), one thread per entry of
 * workgroups of 256: `body` sets `g = ∂loss/∂z` for entry `(i, j)` from
 * `x = M[i, j]`; the program writes `dM = s·dy·g` and per-workgroup sums
 * `(Σ dy·g·x, Σ dy·g)` to `partials` — the scale's and bias's gradients once
 * {@linkcode NovalabInfoNceGradFinishProgram} adds them. `prelude` is WGSL
 * placed before `main` (helper functions the body calls).
 */
export function entryGradSource(matrix: string, body: string, prelude = ""): string {
  return `${workgroupSumSnippet(T)}
${readWriteLine(["partials"])}
${prelude}
fn main() {
  let w = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let n = uniforms.batch;
  let index = w * ${T} + i32(localIndex);
  var dz = 0.0;
  var x = 0.0;
  if (index < n * n) {
    let i = index / n;
    let j = index - i * n;
    x = ${matrix}[index];
    var g = 0.0;
    ${body}
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

/** Workgroups of {@linkcode NovalabInfoNceGradProgram} for batch `B`. */
export function infoNceGradGroups(batch: number): number {
  return Math.ceil((batch * batch) / T);
}

/** `Σ dz·S` (result) and `Σ dz` (written to `dBias`) from the partials, one workgroup. */
export class NovalabInfoNceGradFinishProgram extends RowProgram {
  /** The partial sums; `dBias` is written. */
  variableNames = ["partials", "dBias"];
  /** Cache key. */
  shaderKey = "novalabInfoNceGradFinish";
  /** Batch size and the partials' workgroups. */
  uniforms = UNIFORMS;

  /** One workgroup writing `[1]` (the scale's gradient). */
  constructor() {
    super([1], 1, T, 1);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupSumSnippet(T)}
${readWriteLine(["dBias"])}
fn main() {
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
