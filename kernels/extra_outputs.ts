/**
 * Programs with more than one output on tfjs-backend-webgpu. tfjs gives a
 * program exactly one output binding (`result`) and binds every input
 * read-only; novalab's device (`core/webgpu_device.ts`) turns the inputs a
 * program names on a {@linkcode READ_WRITE_MARKER} line into `read_write`
 * bindings. {@linkcode runWithExtraOutputs} allocates fresh tensors for those
 * inputs, runs the program once, and returns `result` followed by them — one
 * dispatch where tfjs would need one per output (e.g. the fused AdamW writes a
 * group's moments and every parameter of the group).
 *
 * @module
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { hasReadWriteInputs, READ_WRITE_MARKER } from "../core/webgpu_device.ts";

/** The WGSL line that makes the named inputs of a program writable. */
export function readWriteLine(names: string[]): string {
  return `${READ_WRITE_MARKER} ${names.join(" ")}`;
}

/** Uniform values as `runWebGPUProgram` takes them. */
type Uniforms = Parameters<WebGPUBackend["runWebGPUProgram"]>[3];

/**
 * Runs `program` on `inputs` followed by one fresh float32 tensor per shape in
 * `extraShapes`; the program's variable names for those must be listed by a
 * {@linkcode readWriteLine} in its code, and it must write every element of
 * them (their buffers come uninitialised from tfjs's pool). Returns the
 * program's output, then the extra outputs, all owned by the caller.
 */
export function runWithExtraOutputs(
  backend: WebGPUBackend,
  program: WebGPUProgram,
  inputs: TensorInfo[],
  extraShapes: number[][],
  uniforms: Uniforms,
): TensorInfo[] {
  if (!hasReadWriteInputs(backend)) {
    throw new Error(
      `kernels/extra_outputs.ts: ${program.constructor.name} writes ${extraShapes.length} extra ` +
        "outputs, which needs novalab's webgpu device (registered by core/backend.ts); this " +
        "backend was created by another factory — initialise it with initBackend('webgpu')",
    );
  }
  const extras = extraShapes.map((shape) => backend.makeTensorInfo(shape, "float32"));
  try {
    const main = backend.runWebGPUProgram(program, [...inputs, ...extras], "float32", uniforms);
    return [main, ...extras];
  } catch (e) {
    for (const t of extras) backend.disposeData(t.dataId, true);
    throw e;
  }
}
