/**
 * The WGSL program of the weight average's update (`core/weight_average.ts`):
 * one dispatch moves the averages of up to {@linkcode MAX_AVERAGE_GROUP_SLOTS}
 * parameters towards their current values, in place,
 * `e ← e + (p − e)·f` with `f = 1 − decay` (timm's `lerp_`, which keeps an
 * average that has caught up with its parameter exactly where it is).
 *
 * The factor comes from a one-element tensor (a host value: a replayed step
 * writes each step's factor there), so one compiled pipeline per group size
 * serves every step. With a step report (`core/step_guard.ts`) bound as
 * `guard`, a skipped step (its element 1 is 0) leaves the averages as they
 * were, as it leaves the parameters. One thread per element.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { readWriteLine } from "./extra_outputs.ts";

/** Most parameters per dispatch (bounds the shader's per-slot switch). */
export const MAX_AVERAGE_GROUP_SLOTS = 16;

/**
 * Parameters per dispatch the device can bind: each takes two storage buffers
 * (its average and its value) besides the factor, the step report and the
 * (unused) output, so `⌊(limit − 3) / 2⌋`, at least 2 (WebGPU's default limit
 * of 8) and at most {@linkcode MAX_AVERAGE_GROUP_SLOTS}.
 */
export function averageGroupSlots(maxStorageBuffersPerShaderStage: number): number {
  const fit = Math.floor((maxStorageBuffersPerShaderStage - 3) / 2);
  return Math.max(2, Math.min(MAX_AVERAGE_GROUP_SLOTS, fit));
}

const WORKGROUP = 64;
const slots = (n: number) => Array.from({ length: n }, (_, j) => j);

/**
 * PyTorch's `lerp` of `e` towards `p` by `f`: `e + (p − e)·f` below 0.5,
 * `p − (p − e)·(1 − f)` from 0.5 on (exact at f = 1: a queue's write).
 */
const LERP = "select(p - (p - e) * (1.0 - f), e + (p - e) * f, f < 0.5)";

/**
 * One group's update: inputs `factor` (one element, `1 − decay`), averages
 * `e0…` (written in place), parameters `p0…`, and `guard` when gated;
 * output: one unused element.
 */
export class NovalabWeightAverageProgram implements WebGPUProgram {
  /** Inputs: the factor, the averages (updated in place), the parameters, the guard. */
  variableNames: string[];
  /** One unused element (tfjs programs have an output). */
  outputShape = [1];
  /** Cache key (tfjs appends input ranks and shapes). */
  shaderKey: string;
  /** Flat layout: `main(index)`, one thread per element of the group. */
  dispatchLayout = { x: [0] };
  /** Workgroups. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  /** `elements`: the group's element count; `end0…`: the members' cumulative element ends. */
  uniforms: string;
  readonly #members: number;

  /**
   * Builds the program for `members` parameters, `elements` elements in all;
   * `gated` binds `guard`, a step report whose element 1 is 0 when the step
   * was skipped.
   */
  constructor(members: number, elements: number, readonly gated: boolean) {
    this.#members = members;
    const names = (prefix: string) => slots(members).map((j) => `${prefix}${j}`);
    this.variableNames = ["factor", ...names("e"), ...names("p"), ...(gated ? ["guard"] : [])];
    this.shaderKey = `novalabWeightAverage${members}${gated ? "_gated" : ""}`;
    this.dispatch = [Math.ceil(elements / WORKGROUP), 1, 1];
    this.uniforms = `elements : i32, ${names("end").map((e) => `${e} : i32, `).join("")}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const n = this.#members;
    const locate = slots(n - 1).map((j) =>
      `if (index >= uniforms.end${j}) { slot = ${j + 1}; start = uniforms.end${j}; }`
    ).join("\n  ");
    const update = slots(n).map((j) =>
      `case ${j}: { let e = e${j}[i]; let p = p${j}[i]; e${j}[i] = ${LERP}; }`
    ).join("\n    ");
    return `
${readWriteLine(slots(n).map((j) => `e${j}`))}
fn main(index : i32) {
  if (index == 0) { result[0] = 0.0; } // the unused output must stay bound
  if (index >= uniforms.elements) { return; }
  ${this.gated ? "if (guard[1] == 0.0) { return; }" : ""}
  var slot = 0;
  var start = 0;
  ${locate}
  let i = index - start;
  let f = factor[0];
  switch slot {
    ${update}
    default: {}
  }
}`;
  }
}
