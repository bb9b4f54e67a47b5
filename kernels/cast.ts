/**
 * `Cast` to float32 that really converts. tfjs-backend-webgpu casts int32 and
 * bool to float32 by sharing the input's data (no precision is lost), so the
 * float32 tensor keeps an int32 buffer; tfjs's own programs read it through
 * converting getters, but novalab's kernels index their inputs as `f32`
 * arrays, and WGSL then fails to compile and the dispatch silently does
 * nothing (a one-hot caption code fed to a linear layer read as zeros or
 * stale values). novalab's `Cast` converts such inputs once: on the CPU when
 * the values are still there, else in one dispatch; every other cast is
 * tfjs's.
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { FlatProgram } from "./program_base.ts";

/** `result = f32(x)` over a flat view of an int32 or bool (i32-stored) tensor. */
export class NovalabToFloatProgram extends FlatProgram {
  /** The integer input. */
  variableNames = ["x"];
  /** Cache key. */
  shaderKey = "novalabToFloat";
  /** Program uniforms. */
  uniforms = "units : i32,";

  /** WGSL user code. */
  getUserCode(): string {
    return `
fn main(index : i32) {
  if (index < uniforms.units) { result[index] = f32(x[index]); }
}`;
  }
}

interface Args {
  inputs: { x?: TensorInfo };
  backend: unknown;
  attrs?: NamedAttrMap;
}

interface TensorData {
  dtype: string;
  values: ArrayLike<number> | null;
}

/**
 * The `Cast` kernel config for webgpu: int32/bool → float32 converts the
 * data, anything else runs `stockCast` (tfjs's kernel function).
 */
export function castKernelConfig(stockCast: KernelFunc): KernelConfig {
  const kernelFunc = (args: Args): TensorInfo => {
    const x = args.inputs.x!;
    const backend = args.backend as WebGPUBackend;
    const data = (backend as unknown as { tensorMap: { get(id: unknown): TensorData } })
      .tensorMap.get(x.dataId);
    if (args.attrs?.["dtype"] !== "float32" || (data.dtype !== "int32" && data.dtype !== "bool")) {
      return stockCast(args as unknown as Parameters<KernelFunc>[0]) as TensorInfo;
    }
    if (data.values) {
      return backend.makeTensorInfo(x.shape, "float32", Float32Array.from(data.values));
    }
    const size = x.shape.reduce((p, d) => p * d, 1);
    const out = backend.runWebGPUProgram(
      new NovalabToFloatProgram(size),
      [{ ...x, shape: [size] }],
      "float32",
      [{ type: "int32", data: [size] }],
    );
    return { ...out, shape: [...x.shape] };
  };
  return {
    kernelName: "Cast",
    backendName: "webgpu",
    kernelFunc: kernelFunc as unknown as KernelFunc,
  };
}
