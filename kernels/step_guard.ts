/**
 * The training step's guard and report in one dispatch, `NovalabStepGuard`
 * (webgpu): inputs `losses` (`[k]`: the weighted total, then each term),
 * `norm` (`[1]`: the global gradient norm), `health` (the previous step's
 * report, or `[1, 1]` at the start) and optionally `scale` (`[1]`: gradient
 * clipping's factor) → the report `[scale, ok, norm, losses…]` (`[3 + k]`).
 *
 * `ok` is 1 when every loss and the norm are finite and the previous report's
 * `ok` was 1, else 0: the optimiser and the modules' after-step updates read
 * it on the device and leave everything as it was on 0 (`core/optim.ts`'s
 * `guard`), so the trainer need not read the loss before applying the update,
 * and once a step is non-finite every later step in flight is skipped too.
 * Finiteness is decided on the float's bits: WGSL may assume finite values.
 * The host reads the report (one readback) for the step's metrics.
 *
 * @module
 */
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";

/** Kernel name of the step guard. */
export const STEP_GUARD = "NovalabStepGuard";

/** Entries of a report before the losses: scale, ok, norm. */
export const REPORT_HEADER = 3;

/** One thread writes the report (a handful of numbers). */
export class NovalabStepGuardProgram implements WebGPUProgram {
  /** Losses, norm, previous report and, with clipping, its factor. */
  variableNames: string[];
  /** `[3 + k]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey: string;
  /** Flat layout: `main(index)`. */
  dispatchLayout = { x: [0] };
  /** One workgroup. */
  dispatch: [number, number, number] = [1, 1, 1];
  /** One thread. */
  workgroupSize: [number, number, number] = [1, 1, 1];
  /** The number of losses. */
  uniforms = "count : i32,";

  /** Builds the program for `count` losses; `scaled` binds clipping's factor. */
  constructor(count: number, readonly scaled: boolean) {
    this.variableNames = ["losses", "norm", "health", ...(scaled ? ["scale"] : [])];
    this.outputShape = [REPORT_HEADER + count];
    this.shaderKey = `novalabStepGuard${scaled ? "_scaled" : ""}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `
fn nlFinite(x : f32) -> bool {
  return (bitcast<u32>(x) & 0x7f800000u) != 0x7f800000u;
}
fn main(index : i32) {
  if (index != 0) { return; }
  var ok = health[1] != 0.0 && nlFinite(norm[0]);
  for (var i = 0; i < uniforms.count; i++) {
    let loss = losses[i];
    ok = ok && nlFinite(loss);
    result[${REPORT_HEADER} + i] = loss;
  }
  result[0] = ${this.scaled ? "scale[0]" : "1.0"};
  result[1] = select(0.0, 1.0, ok);
  result[2] = norm[0];
}`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
}

const sizeOf = (t: TensorInfo) => t.shape.reduce((p, d) => p * d, 1);

function input(args: Args, name: string, least: number, most = Infinity): TensorInfo {
  const t = args.inputs[name];
  if (!t || t.dtype !== "float32" || sizeOf(t) < least || sizeOf(t) > most) {
    const size = least === most ? `${least}` : `${least}–${most}`;
    throw new Error(
      `kernels/step_guard.ts: ${STEP_GUARD} input ${name} must be float32 with ${size} ` +
        `entries, got ${t ? `${t.dtype} [${t.shape.join(", ")}]` : "nothing"}`,
    );
  }
  return { ...t, shape: [sizeOf(t)] };
}

function runStepGuard(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const losses = input(args, "losses", 1);
  const inputs = [losses, input(args, "norm", 1, 1), input(args, "health", 2)];
  if (args.inputs["scale"]) inputs.push(input(args, "scale", 1, 1));
  const count = sizeOf(losses);
  return backend.runWebGPUProgram(
    new NovalabStepGuardProgram(count, inputs.length === 4),
    inputs,
    "float32",
    [{ type: "int32", data: [count] }],
  );
}

/** Kernel config of the step guard (webgpu). */
export function stepGuardKernelConfigs(): KernelConfig[] {
  return [{
    kernelName: STEP_GUARD,
    backendName: "webgpu",
    kernelFunc: runStepGuard as unknown as KernelFunc,
  }];
}
