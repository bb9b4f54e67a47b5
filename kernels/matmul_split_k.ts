/**
 * The second half of a split-K matmul (`kernels/matmul_plan.ts` says why and
 * when): `NovalabMatMulProgram`'s split variant leaves `splits` partial
 * products per batch entry, `[batch · splits, M, N]`; one
 * `NovalabSplitKReduceProgram` dispatch sums them and applies the epilogue the
 * partial programs skipped (bias, activation, residual), and — for the
 * column-sums variant — sums the per-slice column sums into the bias gradient
 * in the same dispatch.
 *
 * @module
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import type { MatMulActivation, NovalabMatMulProgram } from "./matmul_program.ts";
import type { ProgramUniform } from "./matmul_plan.ts";
import { activationBody } from "./matmul_shader_parts.ts";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";

/** What the reduction applies and reads besides the partial products. */
export interface SplitKEpilogue {
  /** Bias over n, flattened to `[N]`, or `null`. */
  bias: TensorInfo | null;
  /** Activation after the bias. */
  activation: MatMulActivation;
  /** Leaky-ReLU slope (when `activation` is `leakyrelu`). */
  alpha?: number;
  /** Residual of the output's size, flattened, or `null`. */
  residual: TensorInfo | null;
}

/** Geometry of the reduction. */
export interface SplitKShape {
  /** Output batch. */
  batch: number;
  /** Output rows. */
  m: number;
  /** Output columns. */
  n: number;
  /** Partial products per batch entry. */
  splits: number;
}

/** Sums `[batch · splits, M, N]` over the splits, then bias, activation, residual. */
export class NovalabSplitKReduceProgram implements WebGPUProgram {
  /** `partial`, then `bias`, `residual`, `colPartial` and (written) `colSums` as present. */
  variableNames: string[];
  /** Vector width per input. */
  variableComponents: number[];
  /** `[batch · M · N]`. */
  outputShape: number[];
  /** 4 when N % 4 == 0. */
  outputComponent: number;
  /** Cache key. */
  shaderKey: string;
  /** Flat: `main(index)`. */
  dispatchLayout = { x: [0] };
  /** Workgroups (tfjs folds an over-limit grid). */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [64, 1, 1];
  /** Program uniforms (values: {@linkcode splitKReduceUniforms}). */
  uniforms: string;

  /** Builds the reduction for `shape` with the epilogue's parts present. */
  constructor(
    shape: SplitKShape,
    readonly parts: {
      bias: boolean;
      activation: MatMulActivation;
      residual: boolean;
      columnSums: boolean;
    },
  ) {
    const width = shape.n % 4 === 0 ? 4 : 1;
    this.variableNames = ["partial"];
    this.variableComponents = [width];
    for (const name of ["bias", "residual"] as const) {
      if (!parts[name]) continue;
      this.variableNames.push(name);
      this.variableComponents.push(width);
    }
    if (parts.columnSums) {
      this.variableNames.push("colPartial", "colSums");
      this.variableComponents.push(1, 1);
    }
    const size = shape.batch * shape.m * shape.n;
    this.outputShape = [size];
    this.outputComponent = width;
    const threads = Math.max(size / width, parts.columnSums ? shape.batch * shape.n : 0);
    this.dispatch = [Math.ceil(threads / 64), 1, 1];
    this.uniforms = "units : i32, sliceUnits : i32, nUnits : i32, splits : i32, " +
      "colUnits : i32, colN : i32," + (parts.activation === "leakyrelu" ? " alpha : f32," : "");
    this.shaderKey = `novalabSplitKReduce_${width}_${parts.bias}_${parts.activation}_` +
      `${parts.residual}_${parts.columnSums}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const p = this.parts;
    const vector = this.outputComponent === 4;
    const t = vector ? "vec4<f32>" : "f32";
    const columns = !p.columnSums ? "" : `
  if (index < uniforms.colUnits) {
    let b = index / uniforms.colN; let j = index - b * uniforms.colN;
    var c = 0.0;
    for (var s = 0; s < uniforms.splits; s++) {
      c = c + colPartial[(b * uniforms.splits + s) * uniforms.colN + j];
    }
    colSums[index] = c;
  }`;
    return `
${p.columnSums ? readWriteLine(["colSums"]) : ""}
fn nlAct(v: vec4<f32>) -> vec4<f32> { ${activationBody(p.activation)} }
fn main(index: i32) {
  if (index < uniforms.units) {
    let b = index / uniforms.sliceUnits;
    let i = index - b * uniforms.sliceUnits;
    let first = b * uniforms.splits * uniforms.sliceUnits + i;
    var v = ${t}(0.0);
    for (var s = 0; s < uniforms.splits; s++) { v = v + partial[first + s * uniforms.sliceUnits]; }
    ${p.bias ? "v = v + bias[i % uniforms.nUnits];" : ""}
    ${vector ? "v = nlAct(v);" : "v = nlAct(vec4<f32>(v)).x;"}
    ${p.residual ? "v = v + residual[index];" : ""}
    result[index] = v;
  }${columns}
}`;
  }
}

/** Uniform values of {@linkcode NovalabSplitKReduceProgram}. */
export function splitKReduceUniforms(
  shape: SplitKShape,
  columnSums: boolean,
  alpha?: number,
): ProgramUniform[] {
  const width = shape.n % 4 === 0 ? 4 : 1;
  const int = (v: number): ProgramUniform => ({ type: "int32", data: [v] });
  const u = [
    int((shape.batch * shape.m * shape.n) / width),
    int((shape.m * shape.n) / width),
    int(shape.n / width),
    int(shape.splits),
    int(columnSums ? shape.batch * shape.n : 0),
    int(shape.n),
  ];
  if (alpha !== undefined) u.push({ type: "float32", data: [alpha] });
  return u;
}

/**
 * Runs a split-K product: `program` (the split variant, with an extra
 * `colSums` output when `columnSums`) on `inputs` (A, B) with `uniforms`, then
 * the reduction with `epilogue`. Returns the output `[batch · M · N]` and, with
 * `columnSums`, the column sums `[batch · N]`; the partial products are
 * released.
 */
export function runSplitK(
  backend: WebGPUBackend,
  program: NovalabMatMulProgram,
  inputs: TensorInfo[],
  uniforms: ProgramUniform[],
  shape: SplitKShape,
  epilogue: SplitKEpilogue,
  columnSums: boolean,
): TensorInfo[] {
  const slices = shape.batch * shape.splits;
  const partials = columnSums
    ? runWithExtraOutputs(backend, program, inputs, [[slices, shape.n]], uniforms)
    : [backend.runWebGPUProgram(program, inputs, "float32", uniforms)];
  const flat = (t: TensorInfo, size: number): TensorInfo => ({ ...t, shape: [size] });
  const reduceInputs = [flat(partials[0]!, slices * shape.m * shape.n)];
  if (epilogue.bias) reduceInputs.push(flat(epilogue.bias, shape.n));
  if (epilogue.residual) {
    reduceInputs.push(flat(epilogue.residual, shape.batch * shape.m * shape.n));
  }
  if (columnSums) reduceInputs.push(flat(partials[1]!, slices * shape.n));
  const reduce = new NovalabSplitKReduceProgram(shape, {
    bias: epilogue.bias !== null,
    activation: epilogue.activation,
    residual: epilogue.residual !== null,
    columnSums,
  });
  const reduceUniforms = splitKReduceUniforms(shape, columnSums, epilogue.alpha);
  try {
    return columnSums
      ? runWithExtraOutputs(
        backend,
        reduce,
        reduceInputs,
        [[shape.batch * shape.n]],
        reduceUniforms,
      )
      : [backend.runWebGPUProgram(reduce, reduceInputs, "float32", reduceUniforms)];
  } finally {
    for (const t of partials) backend.disposeData(t.dataId);
  }
}
