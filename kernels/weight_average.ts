/**
 * The weight average's fused update for tfjs-backend-webgpu (program in
 * `kernels/weight_average_program.ts`), registered by `kernels/install.ts`:
 *
 * `NovalabWeightAverageGroup`: inputs `factor` (one float32 element, `1 −
 * decay`), `e0…e(n−1)` (the averages, each the sole owner of its buffer:
 * updated in place), `p0…p(n−1)` (the parameters, each the size of its
 * average) and optionally `guard` (a step report, `core/step_guard.ts`: on a
 * skipped step nothing changes); no attrs. Output: one unused element. One
 * dispatch per call, whatever the members' shapes.
 *
 * @module
 */
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { NovalabWeightAverageProgram } from "./weight_average_program.ts";
import { assertSoleOwner, dropCpuCopies } from "./in_place.ts";

/** Kernel name of the grouped average update. */
export const WEIGHT_AVERAGE_GROUP = "NovalabWeightAverageGroup";

const WHERE = `kernels/weight_average.ts ${WEIGHT_AVERAGE_GROUP}`;

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
}

const sizeOf = (t: TensorInfo) => t.shape.reduce((p, d) => p * d, 1);
const flat = (t: TensorInfo): TensorInfo => ({ ...t, shape: [sizeOf(t)] });

function float32(t: TensorInfo | undefined, name: string, size?: number): TensorInfo {
  if (!t || t.dtype !== "float32" || (size !== undefined && sizeOf(t) !== size)) {
    throw new Error(
      `${WHERE}: ${name} must be float32${size === undefined ? "" : ` with ${size} entries`}, ` +
        `got ${t ? `${t.dtype} [${t.shape.join(", ")}]` : "nothing"}`,
    );
  }
  return t;
}

function runGroup(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const factor = float32(args.inputs["factor"], "factor", 1);
  const averages: TensorInfo[] = [], params: TensorInfo[] = [];
  while (args.inputs[`e${averages.length}`]) {
    const j = averages.length;
    const e = float32(args.inputs[`e${j}`], `e${j}`);
    const p = float32(args.inputs[`p${j}`], `p${j}`, sizeOf(e));
    if (sizeOf(e) === 0) throw new Error(`${WHERE}: e${j} is empty`);
    assertSoleOwner(backend, e, `e${j}`, WHERE);
    averages.push(e);
    params.push(p);
  }
  if (averages.length === 0) throw new Error(`${WHERE}: no members (inputs e0, p0, …)`);
  const guard = args.inputs["guard"];
  if (guard && (guard.dtype !== "float32" || sizeOf(guard) < 2)) {
    throw new Error(
      `${WHERE}: guard must be a float32 step report ([scale, ok, …]), got ` +
        `${guard.dtype} [${guard.shape.join(", ")}]`,
    );
  }
  const ends: number[] = [];
  for (const e of averages) ends.push((ends.at(-1) ?? 0) + sizeOf(e));
  const unused = backend.runWebGPUProgram(
    new NovalabWeightAverageProgram(averages.length, ends.at(-1)!, guard !== undefined),
    [flat(factor), ...averages.map(flat), ...params.map(flat), ...(guard ? [flat(guard)] : [])],
    "float32",
    [ends.at(-1)!, ...ends].map((e) => ({ type: "int32", data: [e] })),
  );
  // The dispatch wrote the averages: a CPU copy cached by an earlier read is stale.
  dropCpuCopies(backend, averages, WHERE);
  return unused;
}

/** Kernel config of the weight average's update (webgpu). */
export function weightAverageKernelConfigs(): KernelConfig[] {
  return [{
    kernelName: WEIGHT_AVERAGE_GROUP,
    backendName: "webgpu",
    kernelFunc: runGroup as unknown as KernelFunc,
  }];
}
