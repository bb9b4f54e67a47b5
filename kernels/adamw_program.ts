/**
 * WGSL programs of the fused AdamW update (tfjs-backend-webgpu programs have
 * exactly one output binding, so one step is two kinds of dispatch):
 *
 * - {@linkcode NovalabAdamWMomentsProgram}: the new first and second moments of
 *   up to {@linkcode ADAMW_GROUP_SLOTS} parameters at once. Their moments live
 *   in one packed state tensor, interleaved per element (`[m₀, v₀, m₁, v₁, …]`,
 *   the parameters one after another), so one dispatch reads the old state and
 *   the group's gradients and writes the whole new state.
 * - {@linkcode NovalabAdamWParamProgram}: the new value of one parameter from
 *   its old value and its (already updated) moments in the packed state.
 *
 * The formulas are `core/optim.ts`'s AdamW, operation for operation:
 * `m ← m·β1 + g·(1−β1)`, `v ← v·β2 + g²·(1−β2)`,
 * `p ← p·(1 − lr·wd) − (m / (√v / √(1−β2ᵗ) + ε)) · (lr / (1−β1ᵗ))`.
 * Every step-dependent number is a uniform, so one compiled pipeline of each
 * serves every step, learning rate and parameter.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";

/**
 * Parameters per moments dispatch: 6 gradients + the old state + the output are
 * 8 storage buffers, WebGPU's default `maxStorageBuffersPerShaderStage` (the
 * limit tfjs-backend-webgpu requests its device with).
 */
export const ADAMW_GROUP_SLOTS = 6;

/** Threads per workgroup of both programs (one element per thread). */
const WORKGROUP = 64;

/** Workgroups covering `threads` threads in x (tfjs reshapes beyond the device limit). */
function flatDispatch(threads: number): [number, number, number] {
  return [Math.ceil(threads / WORKGROUP), 1, 1];
}

/** New packed moments of a group: inputs `state` `[2E]` and `g0`…`g5`; output `[2E]`. */
export class NovalabAdamWMomentsProgram implements WebGPUProgram {
  /** Inputs: the old packed state, then one gradient per slot. */
  variableNames = ["state", ...Array.from({ length: ADAMW_GROUP_SLOTS }, (_, j) => `g${j}`)];
  /** The new packed state. */
  outputShape: number[];
  /** Cache key (tfjs appends input ranks and shapes). */
  shaderKey = "novalabAdamWMoments";
  /** Flat layout: `main(index)`, one thread per parameter element. */
  dispatchLayout = { x: [0] };
  /** Workgroups. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  /**
   * `elements`: E; `end0…end5`: cumulative element ends of the slots (an unused
   * slot is empty); `present`: bit j set when slot j has a gradient this step
   * (otherwise its moments are copied unchanged).
   */
  uniforms = `elements : i32, ${
    Array.from({ length: ADAMW_GROUP_SLOTS }, (_, j) => `end${j} : i32, `).join("")
  }present : i32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32, oneMinusBeta2 : f32,`;

  /** Builds the program for a group of `elements` parameter elements in all. */
  constructor(elements: number) {
    this.outputShape = [2 * elements];
    this.dispatch = flatDispatch(elements);
  }

  /** WGSL user code. */
  getUserCode(): string {
    const locate = Array.from(
      { length: ADAMW_GROUP_SLOTS - 1 },
      (_, j) => `if (index >= uniforms.end${j}) { slot = ${j + 1}; start = uniforms.end${j}; }`,
    ).join("\n    ");
    const reads = Array.from(
      { length: ADAMW_GROUP_SLOTS },
      (_, j) => `case ${j}: { g = g${j}[i]; }`,
    ).join("\n      ");
    return `
fn main(index : i32) {
  if (index >= uniforms.elements) { return; }
  var slot = 0;
  var start = 0;
  ${locate}
  var m = state[2 * index];
  var v = state[2 * index + 1];
  if (((uniforms.present >> u32(slot)) & 1) == 1) {
    let i = index - start;
    var g = 0.0;
    switch slot {
      ${reads}
      default: {}
    }
    m = m * uniforms.beta1 + g * uniforms.oneMinusBeta1;
    v = v * uniforms.beta2 + (g * g) * uniforms.oneMinusBeta2;
  }
  result[2 * index] = m;
  result[2 * index + 1] = v;
}`;
  }
}

/** New value of one parameter: inputs `p` `[n]` and its group's packed `state`; output `[n]`. */
export class NovalabAdamWParamProgram implements WebGPUProgram {
  /** Inputs. */
  variableNames = ["p", "state"];
  /** The new parameter, flattened. */
  outputShape: number[];
  /** Cache key. */
  shaderKey = "novalabAdamWParam";
  /** Flat layout: `main(index)`, one thread per element. */
  dispatchLayout = { x: [0] };
  /** Workgroups. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  /**
   * `n`: elements; `offset`: the parameter's first element in the group;
   * `decay`: `1 − lr·wd`; `stepSize`: `lr / (1−β1ᵗ)`; `bc2Sqrt`: `√(1−β2ᵗ)`.
   */
  uniforms = "n : i32, offset : i32, decay : f32, stepSize : f32, bc2Sqrt : f32, eps : f32,";

  /** Builds the program for a parameter of `n` elements. */
  constructor(n: number) {
    this.outputShape = [n];
    this.dispatch = flatDispatch(n);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index >= uniforms.n) { return; }
  let s = 2 * (uniforms.offset + index);
  let m = state[s];
  let v = state[s + 1];
  let denom = sqrt(v) / uniforms.bc2Sqrt + uniforms.eps;
  result[index] = p[index] * uniforms.decay - (m / denom) * uniforms.stepSize;
}`;
  }
}
