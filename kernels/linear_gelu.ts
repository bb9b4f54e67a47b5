/**
 * A GELU linear layer on WebGPU, `y = gelu(x·W + b) [+ r]` with the exact
 * `gelu(z) = 0.5·z·(1 + erf(z/√2))` (the ViT default, timm's `nn.GELU`).
 *
 * Forward: one matmul dispatch that applies the GELU in its epilogue and also
 * writes the pre-activation `z`, kept for the backward pass. Backward:
 * `dZ = dY ⊙ gelu'(z)` in one `NovalabGeluGrad` dispatch
 * (`gelu'(z) = 0.5·(1 + erf(z/√2)) + z·exp(−z²/2)/√(2π)`), then dX, dW and
 * the bias gradient as in `kernels/linear.ts`. The op composition took 5
 * dispatches forward and about 10 backward over the MLP's widest activation.
 * `erf` is Abramowitz & Stegun 7.1.26 (absolute error ≤ 1.5·10⁻⁷), as in
 * tfjs's erf kernels and `kernels/wasm_gelu.ts`.
 *
 * Built on `tf.engine()`'s custom-gradient entry (what `tf.customGrad` uses),
 * so `z` is saved without being an output: a second output would get a
 * zero-filled gradient made on the CPU every step.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import { runNovalabMatMulWithPreActivation } from "./matmul.ts";
import { erfLines } from "./matmul_shader_parts.ts";
import { linearGrads } from "./linear.ts";

/** Kernel name of `dY ⊙ gelu'(z)`. */
export const GELU_GRAD = "NovalabGeluGrad";

const WHERE = "kernels/linear_gelu.ts";

/** `result = dy · gelu'(z)`, four elements per thread when the size allows. */
class NovalabGeluGradProgram implements WebGPUProgram {
  variableNames = ["dy", "z"];
  outputShape: number[];
  shaderKey: string;
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  outputComponent: number;
  variableComponents: number[];
  uniforms = "units : i32,";
  constructor(elements: number) {
    const width = elements % 4 === 0 ? 4 : 1;
    this.outputShape = [elements];
    this.outputComponent = width;
    this.variableComponents = [width, width];
    this.shaderKey = `novalabGeluGrad${width}`;
    this.dispatch = [Math.ceil(elements / width / 64), 1, 1];
  }
  getUserCode(): string {
    const vector = this.outputComponent === 4;
    const load = vector ? "z[index]" : "vec4<f32>(z[index])";
    return `
fn main(index : i32) {
  if (index >= uniforms.units) { return; }
  let v = ${load};
  ${erfLines("v * 0.7071067811865476", "e")}
  let g = 0.5 * (1.0 + e) + v * exp(-0.5 * v * v) * 0.3989422804014327;
  result[index] = dy[index] * ${vector ? "g" : "g.x"};
}`;
  }
}

function runGeluGrad(args: { inputs: Record<string, TensorInfo | undefined>; backend: unknown }) {
  const { dy, z } = args.inputs;
  if (!dy || !z || dy.dtype !== "float32" || !tf.util.arraysEqual(dy.shape, z.shape)) {
    throw new Error(`${WHERE}: ${GELU_GRAD} needs float32 dy and z of one shape`);
  }
  const size = tf.util.sizeFromShape(dy.shape);
  const program = new NovalabGeluGradProgram(size);
  const flat = (t: TensorInfo) => ({ ...t, shape: [size] });
  const out = (args.backend as WebGPUBackend).runWebGPUProgram(
    program,
    [flat(dy), flat(z)],
    "float32",
    [{ type: "int32", data: [size / program.outputComponent] }],
  );
  return { ...out, shape: [...dy.shape] };
}

/** Kernel config of the GELU gradient (webgpu). */
export function geluKernelConfigs(): KernelConfig[] {
  return [{
    kernelName: GELU_GRAD,
    backendName: "webgpu",
    kernelFunc: runGeluGrad as unknown as KernelFunc,
  }];
}

/** `tf.engine()`'s custom-gradient entry. */
interface CustomGradEngine {
  runKernelFunc(params: {
    forwardFunc: (backend: unknown, save: GradSaveFunc) => Tensor;
    backwardsFunc: (dy: Tensor, saved: Tensor[]) => Record<string, () => Tensor>;
    inputs: Record<string, Tensor>;
  }): Tensor;
}

/**
 * `gelu(x·W + b) + residual` (novalab's WebGPU kernels must be installed and
 * active): `x` `[rows, in]`, `weight` `[in, out]`, optional `bias` `[out]` and
 * `residual` `[rows, out]`; differentiable in all of them.
 */
export function geluLinear(
  x: Tensor,
  weight: Tensor,
  bias: Tensor | undefined,
  weightsTrainable: boolean,
  residual?: Tensor,
): Tensor {
  const inputs: Record<string, Tensor> = { weight };
  if (bias) inputs["bias"] = bias;
  if (residual) inputs["residual"] = residual;
  inputs["x"] = x; // last: its gradient releases dZ
  const engine = tf.engine() as unknown as CustomGradEngine;
  return engine.runKernelFunc({
    inputs,
    forwardFunc: (backend, save) => {
      const out = runNovalabMatMulWithPreActivation(backend as WebGPUBackend, x, weight, {
        transposeA: false,
        transposeB: false,
        bias: bias ?? null,
        activation: "gelu",
        residual: residual ?? null,
      });
      if (!out) {
        throw new Error(
          `${WHERE}: a GELU linear layer of [${x.shape}]·[${weight.shape}] is outside novalab's ` +
            "matmul (dispatch limits); use the op composition",
        );
      }
      const [y, z] = out.map((info) => tf.engine().makeTensorFromTensorInfo(info) as Tensor);
      save([x, weight, z!]); // copies kept for the backward pass (none when not recording)
      z!.dispose();
      return y!;
    },
    backwardsFunc: (dy, saved) => {
      const [sx, sw, sz] = saved as [Tensor, Tensor, Tensor];
      const dz = tf.engine().runKernel(GELU_GRAD, { dy, z: sz }) as Tensor;
      return {
        ...linearGrads(dz, sx, sw, {
          withBias: bias !== undefined,
          weightsTrainable,
          ownsDz: true,
        }),
        residual: () => tf.clone(dy),
      };
    },
  });
}
