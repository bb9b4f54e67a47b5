/**
 * The elementwise activation gradient `dZ = dY ⊙ act'(·)` on WebGPU, one
 * program for the activations novalab fuses into matmul epilogues:
 *
 * - `relu`: `dY` where the layer's output `y > 0`, else 0 (`y` given);
 * - `gelu`: `dY · gelu'(z)`, `gelu'(z) = 0.5·(1 + erf(z/√2)) + z·exp(−z²/2)/√(2π)`
 *   (the pre-activation `z` given; erf as in `kernels/matmul_shader_parts.ts`).
 *
 * Four elements per thread when the size allows. Used by the linear layers'
 * gradients (`kernels/linear.ts`, `kernels/linear_gelu.ts`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { erfLines } from "./matmul_shader_parts.ts";

/** Activations with a gradient program here. */
export type GradActivation = "relu" | "gelu";

/** `result = dy ⊙ act'(gate)` over a flat view. */
export class NovalabActivationGradProgram implements WebGPUProgram {
  /** The incoming gradient and what the derivative is taken at. */
  variableNames = ["dy", "gate"];
  /** `[elements]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey: string;
  /** Flat: `main(index)`. */
  dispatchLayout = { x: [0] };
  /** Workgroups (tfjs folds an over-limit grid). */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [64, 1, 1];
  /** 4 when the size is a multiple of 4. */
  outputComponent: number;
  /** Same width for both inputs. */
  variableComponents: number[];
  /** Vector units. */
  uniforms = "units : i32,";

  /** Builds the program for `elements` elements of `activation`. */
  constructor(elements: number, readonly activation: GradActivation) {
    const width = elements % 4 === 0 ? 4 : 1;
    this.outputShape = [elements];
    this.outputComponent = width;
    this.variableComponents = [width, width];
    this.shaderKey = `novalabActivationGrad_${activation}${width}`;
    this.dispatch = [Math.ceil(elements / width / 64), 1, 1];
  }

  /** WGSL user code. */
  getUserCode(): string {
    const vector = this.outputComponent === 4;
    const t = vector ? "vec4<f32>" : "f32";
    const body = this.activation === "relu"
      ? `result[index] = select(${t}(0.0), dy[index], gate[index] > ${t}(0.0));`
      : `let v = ${vector ? "gate[index]" : "vec4<f32>(gate[index])"};
  ${erfLines("v * 0.7071067811865476", "e")}
  let g = 0.5 * (1.0 + e) + v * exp(-0.5 * v * v) * 0.3989422804014327;
  result[index] = dy[index] * ${vector ? "g" : "g.x"};`;
    return `
fn main(index : i32) {
  if (index >= uniforms.units) { return; }
  ${body}
}`;
  }
}

/**
 * Runs {@linkcode NovalabActivationGradProgram} on `dy` and `gate` (float32,
 * one shape; `where` names the caller in errors) → a tensor shaped like `dy`.
 */
export function runActivationGrad(
  backend: WebGPUBackend,
  dy: TensorInfo | undefined,
  gate: TensorInfo | undefined,
  activation: GradActivation,
  where: string,
): TensorInfo {
  if (!dy || !gate || dy.dtype !== "float32" || !tf.util.arraysEqual(dy.shape, gate.shape)) {
    throw new Error(
      `${where} needs float32 dy and ${activation === "relu" ? "y" : "z"} of one shape`,
    );
  }
  const size = tf.util.sizeFromShape(dy.shape);
  const program = new NovalabActivationGradProgram(size, activation);
  const flat = (t: TensorInfo) => ({ ...t, shape: [size] });
  const out = backend.runWebGPUProgram(program, [flat(dy), flat(gate)], "float32", [
    { type: "int32", data: [size / program.outputComponent] },
  ]);
  return { ...out, shape: [...dy.shape] };
}
