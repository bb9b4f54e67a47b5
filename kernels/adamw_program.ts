/**
 * The WGSL program of the fused AdamW update: one dispatch per parameter
 * group computes the new first and second moments of every element of up to
 * {@linkcode MAX_ADAMW_GROUP_SLOTS} parameters and their new values.
 *
 * The group's moments live in one packed state tensor, interleaved per element
 * (`[m₀, v₀, m₁, v₁, …]`, the parameters one after another). State and
 * parameters are updated in place, as PyTorch's fused AdamW does: the device
 * binds inputs `state` and `p0…` writable (`kernels/extra_outputs.ts`'s
 * marker), so a step allocates nothing (the program's own output is one
 * unused element) and every step reads and writes the same buffers — what a
 * replayed step needs (`core/step_replay.ts`). One thread per element.
 *
 * The formulas are `core/optim.ts`'s AdamW, operation for operation:
 * `m ← m·β1 + g·(1−β1)`, `v ← v·β2 + g²·(1−β2)`,
 * `p ← p·(1 − lr·wd) − (m / (√v / √(1−β2ᵗ) + ε)) · (lr / (1−β1ᵗ))`.
 * A parameter without a gradient this step keeps its moments and its value.
 * The step-dependent numbers (`lr / (1−β1ᵗ)`, `√(1−β2ᵗ)`, `1 − lr·wd` per
 * member) come from a small `scalars` tensor, a row per group, so the
 * uniforms are the same at every step and one compiled pipeline per group
 * size serves every step, learning rate and group.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { readWriteLine } from "./extra_outputs.ts";

/** Most parameters per group (bounds the shader's per-slot switch). */
export const MAX_ADAMW_GROUP_SLOTS = 16;

/**
 * Parameters per group the device can bind: each takes two storage buffers
 * (gradient, value) besides the state, the scalars, the (unused) output and
 * the gradient scale, so `⌊(limit − 4) / 2⌋`, at least 2 (WebGPU's default
 * limit of 8) and at most {@linkcode MAX_ADAMW_GROUP_SLOTS}.
 */
export function adamWGroupSlots(maxStorageBuffersPerShaderStage: number): number {
  const fit = Math.floor((maxStorageBuffersPerShaderStage - 4) / 2);
  return Math.max(2, Math.min(MAX_ADAMW_GROUP_SLOTS, fit));
}

/** Threads per workgroup (one element per thread). */
const WORKGROUP = 64;

/** The optional input of the update: none, clipping's factor, or a step report. */
export type AdamWControl = "none" | "scale" | "guard";

const slots = (n: number) => Array.from({ length: n }, (_, j) => j);

/** Scalars per group row: `stepSize`, `bc2Sqrt`, then `decay` per member slot. */
export function adamWScalarsWidth(): number {
  return 2 + MAX_ADAMW_GROUP_SLOTS;
}

/**
 * One group's update: inputs `state` `[2E]` (written in place), `scalars`
 * (the group's row at `scalarsAt`), gradients `g0…` and parameters `p0…`
 * (flattened, written in place); output: one unused element.
 */
export class NovalabAdamWGroupProgram implements WebGPUProgram {
  /** Inputs: state and parameters (updated in place), scalars, gradients. */
  variableNames: string[];
  /** One unused element (tfjs programs have an output). */
  outputShape = [1];
  /** Cache key (tfjs appends input ranks and shapes). */
  shaderKey: string;
  /** Flat layout: `main(index)`, one thread per parameter element. */
  dispatchLayout = { x: [0] };
  /** Workgroups. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [WORKGROUP, 1, 1];
  /**
   * `elements`: E; `end0…`: cumulative element ends of the members;
   * `present`: bit j set when member j has a gradient; `scalarsAt`: where the
   * group's row of `scalars` starts (`[lr / (1−β1ᵗ), √(1−β2ᵗ), 1 − lr·wd per member]`).
   */
  uniforms: string;
  readonly #members: number;

  /**
   * Builds the program for a group of `members` parameters, `elements`
   * elements in all. `control` adds an input: `"scale"` binds `gradScale`
   * (one element every gradient is multiplied by), `"guard"` binds `guard`, a
   * step report (`core/step_guard.ts`): element 0 is that factor, element 1 the
   * gate — on 0 the group keeps its moments and parameters as they were.
   */
  constructor(members: number, elements: number, readonly control: AdamWControl = "none") {
    this.#members = members;
    const names = (prefix: string) => slots(members).map((j) => `${prefix}${j}`);
    const extra = control === "scale" ? ["gradScale"] : control === "guard" ? ["guard"] : [];
    this.variableNames = ["state", "scalars", ...names("g"), ...names("p"), ...extra];
    this.shaderKey = `novalabAdamWGroup${members}${control === "none" ? "" : `_${control}`}`;
    this.dispatch = [Math.ceil(elements / WORKGROUP), 1, 1];
    this.uniforms = `elements : i32, ${names("end").map((e) => `${e} : i32, `).join("")}` +
      "present : i32, scalarsAt : i32, beta1 : f32, oneMinusBeta1 : f32, beta2 : f32, " +
      "oneMinusBeta2 : f32, eps : f32,";
  }

  /** WGSL user code. */
  getUserCode(): string {
    const n = this.#members;
    const locate = slots(n - 1).map((j) =>
      `if (index >= uniforms.end${j}) { slot = ${j + 1}; start = uniforms.end${j}; }`
    ).join("\n  ");
    const read = slots(n).map((j) => `case ${j}: { p = p${j}[i]; if (present) { g = g${j}[i]; } }`)
      .join("\n    ");
    const write = slots(n).map((j) => `case ${j}: { p${j}[i] = p; }`).join("\n    ");
    return `
${readWriteLine(["state", ...slots(n).map((j) => `p${j}`)])}
fn main(index : i32) {
  if (index == 0) { result[0] = 0.0; } // the unused output must stay bound
  if (index >= uniforms.elements) { return; }
  var slot = 0;
  var start = 0;
  ${locate}
  let i = index - start;
  let present = ((uniforms.present >> u32(slot)) & 1) == 1${
      this.control === "guard" ? " && guard[1] != 0.0" : ""
    };
  var p = 0.0;
  var g = 0.0;
  let decay = scalars[uniforms.scalarsAt + 2 + slot];
  switch slot {
    ${read}
    default: {}
  }
  ${
      this.control === "scale"
        ? "g = g * gradScale[0];"
        : this.control === "guard"
        ? "g = g * guard[0];"
        : ""
    }
  var m = state[2 * index];
  var v = state[2 * index + 1];
  if (present) {
    m = m * uniforms.beta1 + g * uniforms.oneMinusBeta1;
    v = v * uniforms.beta2 + (g * g) * uniforms.oneMinusBeta2;
    let denom = sqrt(v) / scalars[uniforms.scalarsAt + 1] + uniforms.eps;
    p = p * decay - (m / denom) * scalars[uniforms.scalarsAt];
    state[2 * index] = m;
    state[2 * index + 1] = v;
    switch slot {
      ${write}
      default: {}
    }
  }
}`;
  }
}
