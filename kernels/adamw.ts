/**
 * The fused AdamW kernels for tfjs-backend-webgpu (programs in
 * `kernels/adamw_program.ts`), registered by `kernels/install.ts`:
 *
 * - `NovalabAdamWMoments`: inputs `state` (`[2E]`, packed interleaved moments
 *   of a group) and `g0`…`g5`; attrs `ends` (6 cumulative element ends),
 *   `present` (bit mask of slots with a gradient), `beta1`, `beta2`. Output:
 *   the new packed state.
 * - `NovalabAdamWParam`: inputs `p` (the parameter) and `state` (its group's
 *   new packed state); attrs `offset` (its first element in the group),
 *   `decay` (`1 − lr·wd`), `stepSize` (`lr / (1−β1ᵗ)`), `bc2Sqrt`, `eps`.
 *   Output: the new parameter, shaped like `p`.
 *
 * Scalars are computed in float64 here and rounded to float32 in the uniform
 * buffer, as tfjs rounds the scalars of the reference op composition.
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import {
  ADAMW_GROUP_SLOTS,
  NovalabAdamWMomentsProgram,
  NovalabAdamWParamProgram,
} from "./adamw_program.ts";

/** Kernel name of the grouped moments update. */
export const ADAMW_MOMENTS = "NovalabAdamWMoments";
/** Kernel name of the per-parameter update. */
export const ADAMW_PARAM = "NovalabAdamWParam";

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

const WHERE = "kernels/adamw.ts";

function sizeOf(t: TensorInfo): number {
  return t.shape.reduce((p, d) => p * d, 1);
}

function float32(t: TensorInfo | undefined, name: string, kernel: string): TensorInfo {
  if (!t || t.dtype !== "float32") {
    throw new Error(
      `${WHERE}: ${kernel} input ${name} must be a float32 tensor, got ${t ? t.dtype : "nothing"}`,
    );
  }
  return t;
}

function finite(attrs: NamedAttrMap, name: string, kernel: string): number {
  const x = Number(attrs[name]);
  if (!Number.isFinite(x)) {
    throw new Error(`${WHERE}: ${kernel} attr ${name} must be a finite number, got ${attrs[name]}`);
  }
  return x;
}

function flat(t: TensorInfo): TensorInfo {
  return { ...t, shape: [sizeOf(t)] };
}

function runMoments(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const attrs = args.attrs ?? {};
  const state = float32(args.inputs["state"], "state", ADAMW_MOMENTS);
  const ends = attrs["ends"] as number[] | undefined;
  const present = Number(attrs["present"]);
  if (!Array.isArray(ends) || ends.length !== ADAMW_GROUP_SLOTS) {
    throw new Error(
      `${WHERE}: ${ADAMW_MOMENTS} attr ends must list ${ADAMW_GROUP_SLOTS} cumulative element ` +
        `ends, got ${JSON.stringify(ends)}`,
    );
  }
  const elements = ends[ADAMW_GROUP_SLOTS - 1]!;
  if (sizeOf(state) !== 2 * elements) {
    throw new Error(
      `${WHERE}: ${ADAMW_MOMENTS} state has ${sizeOf(state)} entries, expected 2 × ${elements} ` +
        "(interleaved m and v of the group's elements)",
    );
  }
  const grads = Array.from({ length: ADAMW_GROUP_SLOTS }, (_, j) => {
    const g = float32(args.inputs[`g${j}`], `g${j}`, ADAMW_MOMENTS);
    const n = ends[j]! - (j === 0 ? 0 : ends[j - 1]!);
    if (n < 0 || ((present >> j) & 1 && sizeOf(g) !== n)) {
      throw new Error(
        `${WHERE}: ${ADAMW_MOMENTS} slot ${j} covers ${n} elements but its gradient has ` +
          `${sizeOf(g)} (shape [${g.shape.join(", ")}])`,
      );
    }
    return flat(g);
  });
  const uniforms = [
    { type: "int32", data: [elements] },
    ...ends.map((e) => ({ type: "int32", data: [e] })),
    { type: "int32", data: [present] },
    ...["beta1", "beta2"].flatMap((k) => {
      const beta = finite(attrs, k, ADAMW_MOMENTS);
      return [{ type: "float32", data: [beta] }, { type: "float32", data: [1 - beta] }];
    }),
  ];
  const program = new NovalabAdamWMomentsProgram(elements);
  return backend.runWebGPUProgram(program, [flat(state), ...grads], "float32", uniforms);
}

function runParam(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const attrs = args.attrs ?? {};
  const p = float32(args.inputs["p"], "p", ADAMW_PARAM);
  const state = float32(args.inputs["state"], "state", ADAMW_PARAM);
  const n = sizeOf(p), offset = Number(attrs["offset"]);
  if (!Number.isInteger(offset) || offset < 0 || 2 * (offset + n) > sizeOf(state)) {
    throw new Error(
      `${WHERE}: ${ADAMW_PARAM} offset ${attrs["offset"]} + ${n} elements does not fit a ` +
        `state of ${sizeOf(state)} entries`,
    );
  }
  const uniforms = [
    { type: "int32", data: [n] },
    { type: "int32", data: [offset] },
    ...["decay", "stepSize", "bc2Sqrt", "eps"].map((k) => ({
      type: "float32",
      data: [finite(attrs, k, ADAMW_PARAM)],
    })),
  ];
  const out = backend.runWebGPUProgram(
    new NovalabAdamWParamProgram(n),
    [flat(p), flat(state)],
    "float32",
    uniforms,
  );
  return { ...out, shape: [...p.shape] };
}

/** Kernel configs of the fused AdamW (webgpu). */
export function adamWKernelConfigs(): KernelConfig[] {
  return [
    {
      kernelName: ADAMW_MOMENTS,
      backendName: "webgpu",
      kernelFunc: runMoments as unknown as KernelFunc,
    },
    {
      kernelName: ADAMW_PARAM,
      backendName: "webgpu",
      kernelFunc: runParam as unknown as KernelFunc,
    },
  ];
}
