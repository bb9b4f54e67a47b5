/**
 * WGSL fragments of the register-tiled matmul (`kernels/matmul_program.ts`):
 * the unrolled inner products, the column sums of the staged B slices, and
 * the epilogue (bias, activation, residual, store). Staging and the thread
 * layout are in `kernels/matmul_staging.ts`.
 *
 * @module
 */
import type { MatMulActivation, MatMulTile, MatMulVariant } from "./matmul_program.ts";
import { aGroup, bGroup, LANES, outputCol, outputRow } from "./matmul_staging.ts";

/**
 * The first `vec4` of the staged slice being read in workgroup memory `Xs`: `rA` / `rB`
 * (set by the k loop) for a double-buffered tile, else none.
 */
export function readBase(t: MatMulTile, x: "A" | "B"): string {
  return t.doubleBuffer ? `r${x} + ` : "";
}

/** The unrolled products of one staged slice: `tm × tn/4` vec4 FMAs per depth step. */
export function innerProducts(t: MatMulTile, f16: boolean): string[] {
  const widen = (e: string) => f16 ? `vec4<f32>(${e})` : e;
  const qm = (t.wgY * t.tm) / 4, qn = (t.wgX * t.tn) / 4;
  const [ra, rb] = [readBase(t, "A"), readBase(t, "B")];
  const lines: string[] = [];
  for (let kk = 0; kk < t.bk; kk++) {
    const loads = [
      ...Array.from(
        { length: t.tm / 4 },
        (_, i) => `let a${i} = ${widen(`As[${ra}${kk * qm} + ${aGroup(t, i)}]`)};`,
      ),
      ...Array.from(
        { length: t.tn / 4 },
        (_, j) => `let b${j} = ${widen(`Bs[${rb}${kk * qn} + ${bGroup(t, j)}]`)};`,
      ),
    ];
    const fmas: string[] = [];
    for (let i = 0; i < t.tm; i++) {
      for (let j = 0; j < t.tn / 4; j++) {
        fmas.push(
          `c${i}_${j} = fma(vec4<f32>(a${i >> 2}.${LANES[i & 3]}), b${j}, c${i}_${j});`,
        );
      }
    }
    lines.push(`    { ${loads.join(" ")}\n      ${fmas.join("\n      ")} }`);
  }
  return lines;
}

/** Threads of the first workgroup row add each staged B slice to their column sums. */
export function columnSumAccumulate(t: MatMulTile): string {
  const qn = (t.wgX * t.tn) / 4;
  const adds: string[] = [];
  for (let kk = 0; kk < t.bk; kk++) {
    for (let j = 0; j < t.tn / 4; j++) {
      adds.push(`s${j} = s${j} + Bs[${readBase(t, "B")}${kk * qn} + ${bGroup(t, j)}];`);
    }
  }
  return `    if (sumRow) {\n      ${adds.join("\n      ")}\n    }`;
}

/** Stores the column sums of the first workgroup row. */
export function columnSumStore(t: MatMulTile): string {
  const stores = Array.from(
    { length: t.tn / 4 },
    (_, j) =>
      `{ let col = ${outputCol(t, j)}; ${
        LANES.map((l, k) =>
          `if (col + ${k} < N) { colSums[i32(workgroupId.z) * N + col + ${k}] = s${j}.${l}; }`
        ).join(" ")
      } }`,
  );
  return `  if (sumRow) {\n    ${stores.join("\n    ")}\n  }`;
}

/** WGSL body of `nlAct(v: vec4<f32>)` for `activation`. */
export function activationBody(activation: MatMulActivation): string {
  switch (activation) {
    case "linear":
      return "return v;";
    case "relu":
      return "return select(v, vec4<f32>(0.0), v < vec4<f32>(0.0));";
    case "relu6":
      return "return clamp(v, vec4<f32>(0.0), vec4<f32>(6.0));";
    case "elu":
      return "return select(exp(v) - vec4<f32>(1.0), v, v >= vec4<f32>(0.0));";
    case "sigmoid":
      return "return vec4<f32>(1.0) / (vec4<f32>(1.0) + exp(-v));";
    case "leakyrelu":
      return "return select(uniforms.alpha * v, v, v >= vec4<f32>(0.0));";
    case "gelu":
      return `${erfLines("v * 0.7071067811865476", "e")}
  return 0.5 * v * (1.0 + e);`;
  }
}

/**
 * WGSL statements that set `vec4<f32>` `out` to erf of the `vec4<f32>`
 * expression `u`: Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5·10⁻⁷, the
 * formula of tfjs's own erf kernels and of `kernels/wasm_gelu.ts`).
 */
export function erfLines(u: string, out: string): string {
  return `let ${out}U = ${u};
  let ${out}A = abs(${out}U);
  let ${out}T = 1.0 / (1.0 + 0.3275911 * ${out}A);
  let ${out}P = ${out}T * (0.254829592 + ${out}T * (-0.284496736 + ${out}T * (1.421413741 +
    ${out}T * (-1.453152027 + ${out}T * 1.061405429))));
  let ${out} = sign(${out}U) * (1.0 - ${out}P * exp(-${out}A * ${out}A));`;
}

/** WGSL that stores the `vec4` `v` at output `[row, col…col+3]` of `name` (vec4 or per lane). */
function storeOutput(name: string, vec4: boolean): string {
  return vec4
    ? `if (col < N) { ${name}[(offC + row * N + col) / 4] = v; }`
    : LANES.map((l, k) => `if (col + ${k} < N) { ${name}[offC + row * N + col + ${k}] = v.${l}; }`)
      .join(" ");
}

/**
 * The epilogue of every output a thread owns: bias (then the pre-activation
 * stored to `preAct` when asked), activation, residual, the gate's activation
 * gradient, then a vec4 or per-lane store (rows and columns past M and N skipped).
 */
export function epilogue(v: MatMulVariant): string[] {
  const t = v.tile;
  const lines: string[] = [];
  for (let i = 0; i < t.tm; i++) {
    for (let j = 0; j < t.tn / 4; j++) {
      const col = outputCol(t, j);
      const bias = !v.bias ? "" : v.vec4Out ? "v = v + bias[col / 4];" : "v = v + nlBias4(col);";
      const residual = !v.residual
        ? ""
        : v.vec4Out
        ? "v = v + residual[(offC + row * N + col) / 4];"
        : "v = v + nlLoad_residual(offC + row * N, col);";
      const gate = !v.gate
        ? ""
        : v.vec4Out
        ? "v = v * nlGateGrad(gate[(offC + row * N + col) / 4]);"
        : "v = v * nlGateGrad(nlLoad_gate(offC + row * N, col));";
      const preAct = v.preActivation ? storeOutput("preAct", v.vec4Out) : "";
      const store = storeOutput("result", v.vec4Out);
      lines.push(`  { let row = ${outputRow(t, i)}; let col = ${col};
    if (row < M && col < N) { var v = c${i}_${j}; ${bias} ${preAct}
      v = nlAct(v); ${residual} ${gate} ${store} } }`);
    }
  }
  return lines;
}

/** WGSL `nlLoad_<name>(rowStart, c)`: four consecutive entries of `name` from column c, zero past N. */
export function laneLoader(name: string): string {
  return `fn nlLoad_${name}(rowStart: i32, c: i32) -> vec4<f32> {
  var r = vec4<f32>(0.0);
  for (var k = 0; k < 4; k++) { if (c + k < uniforms.dimN) { r[k] = ${name}[rowStart + c + k]; } }
  return r;
}`;
}

/**
 * WGSL `nlGateGrad(g)`: the derivative of `activation` at `g` —
 * `[g > 0]` for ReLU, `0.5·(1 + erf(g/√2)) + g·exp(−g²/2)/√(2π)` for GELU.
 */
export function gateGradFunction(activation: "relu" | "gelu"): string {
  if (activation === "relu") {
    return "fn nlGateGrad(g: vec4<f32>) -> vec4<f32> { return select(vec4<f32>(0.0), vec4<f32>(1.0), g > vec4<f32>(0.0)); }";
  }
  return `fn nlGateGrad(g: vec4<f32>) -> vec4<f32> {
  ${erfLines("g * 0.7071067811865476", "e")}
  return 0.5 * (1.0 + e) + g * exp(-0.5 * g * g) * 0.3989422804014327;
}`;
}
