/**
 * WGSL programs of the fused Epps–Pulley statistic (`kernels/epps_pulley.ts`)
 * over projections `u` `[V, N, M]` (views, samples, slices) and a quadrature
 * of `T` positive nodes `t_j` with weights `w_j` (`losses/epps_pulley.ts`),
 * `φ_j = e^{−t_j²/2}`:
 *
 * - forward: per view and slice, `C_j = mean_n cos(t_j u)`,
 *   `S_j = mean_n sin(t_j u)` and `EP = N·Σ_j w_j((C_j − φ_j)² + S_j²)`,
 *   written `[V, M]`; beside it the backward coefficients
 *   `a_j = 2 w_j t_j S_j`, `b_j = 2 w_j t_j (C_j − φ_j)` `[V, 2T, M]`;
 * - backward: `∂EP/∂u_{vnm} · dy_{vm} = dy_{vm} Σ_j (a_j cos(t_j u) − b_j sin(t_j u))`,
 *   one thread per element.
 *
 * Sines and cosines come from `nlSinCos` below, not WGSL's `sin`/`cos`: the
 * WGSL spec only promises those an absolute error of 2⁻¹¹ on [−π, π] and
 * nothing outside it (GPU drivers may use their fast special-function units;
 * Mesa's llvmpipe happens to be accurate to ~7·10⁻⁸ up to |x| = 1000), while
 * the statistic sums N of them and SIGReg's arguments `t·u` reach ±15 and
 * beyond. `nlSinCos` reduces by π/2 in three parts (Cody–Waite) and evaluates
 * Cephes' single-precision minimax polynomials: ~1 ulp for |t·u| < 8192, on
 * every adapter (tested to |t·u| = 300 in `kernels/epps_pulley_test.ts`).
 *
 * Nothing of size `V·N·M·T` is ever stored (the op composition materialised
 * `[V, M, N, T]` cosines and sines, chunked to bound memory). The nodes are
 * compiled into the shader as constants and the per-node accumulators are
 * named registers (unrolled), not an indexed array.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { BATCH_NORM_COLUMNS, BATCH_NORM_LANES, columnPrelude } from "./batchnorm_programs.ts";
import { readWriteLine } from "./extra_outputs.ts";
import { gridFor } from "./row_reduce.ts";

const C = BATCH_NORM_COLUMNS, R = BATCH_NORM_LANES;

/** A quadrature as the programs take it: positive nodes and their weights. */
export interface QuadratureConstants {
  /** Nodes `t_j > 0`. */
  t: readonly number[];
  /** Weights `w_j` (including e^{−t²/2} and the folding of −t onto t). */
  weights: readonly number[];
}

/** A WGSL f32 literal that round-trips `x` (f32 rounding happens in the compiler). */
function literal(x: number): string {
  const s = String(x);
  return /[.eE]/.test(s) ? s : `${s}.0`;
}

function constants(q: QuadratureConstants): string[] {
  return q.t.map((t, j) =>
    `const nlT${j} = ${literal(t)}; const nlW${j} = ${literal(q.weights[j]!)}; ` +
    `const nlPhi${j} = ${literal(Math.exp(-(t * t) / 2))};`
  );
}

/** WGSL `nlSinCos(x) -> vec2<f32>(cos x, sin x)` (see the module notes). */
export const SIN_COS_WGSL = `
fn nlSinCos(x : f32) -> vec2<f32> {
  let k = round(x * 0.6366197723675814);
  let r = ((x - k * 1.5703125) - k * 4.837512969970703125e-4) - k * 7.54978995489188216e-8;
  let z = r * r;
  let s = r + r * z * (-1.6666654611e-1 + z * (8.3321608736e-3 + z * -1.9515295891e-4));
  let c = 1.0 - 0.5 * z + z * z * (4.166664568298827e-2 + z * (-1.388731625493765e-3 +
    z * 2.443315711809948e-5));
  let q = i32(k) & 3;
  if (q == 0) { return vec2<f32>(c, s); }
  if (q == 1) { return vec2<f32>(-s, c); }
  if (q == 2) { return vec2<f32>(-c, -s); }
  return vec2<f32>(s, -c);
}`;

function key(q: QuadratureConstants): string {
  return q.t.map((t, j) => `${t}:${q.weights[j]}`).join(",");
}

/** Forward: the statistic `[V, M]` and the backward coefficients `[V, 2T, M]` (written). */
export class NovalabEppsPulleyProgram implements WebGPUProgram {
  /** `coef` is written. */
  variableNames = ["u", "coef"];
  /** `[V, M]`. */
  outputShape: number[];
  /** Cache key (the nodes are compiled in). */
  shaderKey: string;
  /** Non-flat so that `main()` takes no index. */
  dispatchLayout = { x: [0], y: [1] };
  /** One workgroup per view and 32 slices. */
  dispatch: [number, number, number];
  /** 32 slices × 8 sample lanes. */
  workgroupSize: [number, number, number] = [C, R, 1];
  /** Program uniforms. */
  uniforms = "views : i32, samples : i32, slices : i32,";

  /** Builds the program for `u` `[views, samples, slices]`; `limit` bounds each grid dimension. */
  constructor(views: number, slices: number, limit: number, readonly q: QuadratureConstants) {
    this.outputShape = [views, slices];
    this.dispatch = gridFor(views * Math.ceil(slices / C), limit);
    this.shaderKey = `novalabEppsPulley_${key(q)}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const nodes = this.q.t.map((_, j) => j);
    const T = nodes.length;
    return `${columnPrelude()}
${readWriteLine(["coef"])}
${SIN_COS_WGSL}
${constants(this.q).join("\n")}
fn main() {
  let M = uniforms.slices;
  let N = uniforms.samples;
  let blocks = (M + ${C - 1}) / ${C};
  let group = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let v = group / blocks;
  let col = (group % blocks) * ${C} + i32(localId.x);
  let lane = i32(localId.y);
  let valid = v < uniforms.views && col < M;
  ${nodes.map((j) => `var a${j} = vec2<f32>(0.0);`).join(" ")}
  if (valid) {
    for (var i = lane; i < N; i += ${R}) {
      let x = u[(v * N + i) * M + col];
      ${nodes.map((j) => `a${j} += nlSinCos(nlT${j} * x);`).join("\n      ")}
    }
  }
  var stat = 0.0;
  let base = (v * ${2 * T}) * M + col;
  ${
      nodes.map((j) =>
        `{
    let m = nlColumnSum(a${j}) / f32(N);
    let c = m.x - nlPhi${j};
    stat += nlW${j} * (c * c + m.y * m.y);
    if (valid && lane == 0) {
      coef[base + ${2 * j} * M] = 2.0 * nlW${j} * nlT${j} * m.y;
      coef[base + ${2 * j + 1} * M] = 2.0 * nlW${j} * nlT${j} * c;
    }
  }`
      ).join("\n  ")
    }
  if (valid && lane == 0) { result[v * M + col] = f32(N) * stat; }
}`;
  }
}

/** Backward: `du` `[V, N, M]`, one element per thread. */
export class NovalabEppsPulleyGradProgram implements WebGPUProgram {
  /** Projections, coefficients from the forward pass, and the statistic's gradient `[V, M]`. */
  variableNames = ["u", "coef", "dy"];
  /** `[V·N·M]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey: string;
  /** Flat: `main(index)`. */
  dispatchLayout = { x: [0] };
  /** Workgroups (tfjs folds an over-limit grid). */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [64, 1, 1];
  /** Program uniforms. */
  uniforms = "units : i32, samples : i32, slices : i32,";

  /** Builds the program for `views·samples·slices` elements. */
  constructor(elements: number, readonly q: QuadratureConstants) {
    this.outputShape = [elements];
    this.dispatch = [Math.ceil(elements / 64), 1, 1];
    this.shaderKey = `novalabEppsPulleyGrad_${key(q)}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const T = this.q.t.length;
    return `${SIN_COS_WGSL}
${constants(this.q).join("\n")}
fn main(index : i32) {
  if (index >= uniforms.units) { return; }
  let M = uniforms.slices;
  let col = index % M;
  let v = index / (uniforms.samples * M);
  let x = u[index];
  let base = (v * ${2 * T}) * M + col;
  var g = 0.0;
  ${
      this.q.t.map((_, j) =>
        `{ let p = nlSinCos(nlT${j} * x); g += coef[base + ${2 * j} * M] * p.x - ` +
        `coef[base + ${2 * j + 1} * M] * p.y; }`
      ).join("\n  ")
    }
  result[index] = dy[v * M + col] * g;
}`;
  }
}
