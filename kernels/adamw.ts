/**
 * The fused AdamW kernel for tfjs-backend-webgpu (program in
 * `kernels/adamw_program.ts`), registered by `kernels/install.ts`:
 *
 * `NovalabAdamWGroup`: inputs `state` (`[2E]`, packed interleaved moments of a
 * group), `scalars` (rows of {@linkcode adamWScalarsWidth} floats: `lr /
 * (1−β1ᵗ)`, `√(1−β2ᵗ)`, then `1 − lr·wd` per member), `g0…g(n−1)` (gradients,
 * or any tensor where absent) and `p0…p(n−1)` (the parameters), optionally
 * `gradScale` (one element every gradient is multiplied by: gradient
 * clipping's factor, read on the device, so clipping needs no pass of its own)
 * or `guard` (a step report, `core/step_guard.ts`: that factor, then a gate —
 * on 0 nothing changes); attrs `ends` (n cumulative element ends), `present`
 * (bit mask of members with a gradient), `scalarsAt` (where the group's row
 * starts), `beta1`, `beta2`, `eps`. The state and the parameters with a
 * gradient are updated in place; the output is one unused element. One
 * dispatch.
 *
 * In place means every tensor sharing the state's or a parameter's buffer
 * would change with it, so each must be the sole owner of its buffer (tfjs's
 * reshape and clone share buffers; `kernels/adamw_state.ts` copies such
 * parameters first) — the kernel refuses otherwise. It also drops the CPU copy
 * tfjs caches after reading a tensor, so the next read sees the new values.
 *
 * Scalars are computed in float64 by the caller and rounded to float32 in the
 * `scalars` tensor, as tfjs rounds the scalars of the reference op composition.
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { adamWScalarsWidth, NovalabAdamWGroupProgram } from "./adamw_program.ts";
import { assertSoleOwner, dropCpuCopies } from "./in_place.ts";

export { adamWScalarsWidth };

/** Kernel name of the grouped update (moments and parameters). */
export const ADAMW_GROUP = "NovalabAdamWGroup";

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

/** The group's cumulative element ends (attr `ends`), one per member. */
function memberEnds(attrs: NamedAttrMap): number[] {
  const ends = attrs["ends"] as number[] | undefined;
  if (!Array.isArray(ends) || ends.length === 0) {
    throw new Error(
      `${WHERE}: ${ADAMW_GROUP} attr ends must list one number per member, got ${
        JSON.stringify(ends)
      }`,
    );
  }
  return ends;
}

/** The first of this step's row of scalars (attr `scalarsAt`), checked against `scalars`. */
function scalarsRow(attrs: NamedAttrMap, scalars: TensorInfo): number {
  const scalarsAt = Number(attrs["scalarsAt"] ?? 0);
  const width = adamWScalarsWidth();
  if (!Number.isInteger(scalarsAt) || scalarsAt < 0 || scalarsAt + width > sizeOf(scalars)) {
    throw new Error(
      `${WHERE}: ${ADAMW_GROUP} attr scalarsAt ${attrs["scalarsAt"]} leaves no row of ` +
        `${width} in the ${sizeOf(scalars)} scalars`,
    );
  }
  return scalarsAt;
}

/** Each member's parameter (updated in place: it must own its buffer) and gradient. */
function groupMembers(
  args: Args,
  ends: number[],
  present: number,
): { params: TensorInfo[]; grads: TensorInfo[] } {
  const K = ADAMW_GROUP;
  const params: TensorInfo[] = [], grads: TensorInfo[] = [];
  for (let j = 0; j < ends.length; j++) {
    const size = ends[j]! - (j === 0 ? 0 : ends[j - 1]!);
    const p = float32(args.inputs[`p${j}`], `p${j}`, K);
    const g = float32(args.inputs[`g${j}`], `g${j}`, K);
    if (size <= 0 || sizeOf(p) !== size || ((present >> j) & 1 && sizeOf(g) !== size)) {
      throw new Error(
        `${WHERE}: ${K} member ${j} covers ${size} elements but its parameter has ` +
          `${sizeOf(p)} (shape [${p.shape.join(", ")}]) and its gradient ${sizeOf(g)}`,
      );
    }
    assertSoleOwner(args.backend as WebGPUBackend, p, `p${j}`, `${WHERE} ${K}`);
    params.push(p);
    grads.push(g);
  }
  return { params, grads };
}

/**
 * What scales or gates the step: clipping's `gradScale` (one float), a step
 * report `guard` (`[scale, ok, …]`), or neither.
 */
function stepControl(args: Args): { control: "scale" | "guard" | "none"; extra?: TensorInfo } {
  const K = ADAMW_GROUP;
  const scale = args.inputs["gradScale"];
  if (scale && (scale.dtype !== "float32" || sizeOf(scale) !== 1)) {
    throw new Error(
      `${WHERE}: ${K} gradScale must be one float32 element, got ${scale.dtype} [${scale.shape}]`,
    );
  }
  const guard = args.inputs["guard"];
  if (guard && (guard.dtype !== "float32" || sizeOf(guard) < 2 || scale)) {
    throw new Error(
      `${WHERE}: ${K} guard must be a float32 step report ([scale, ok, …]) and comes ` +
        `without gradScale, got ${guard.dtype} [${guard.shape}]${scale ? " and a gradScale" : ""}`,
    );
  }
  if (scale) return { control: "scale", extra: scale };
  return guard ? { control: "guard", extra: guard } : { control: "none" };
}

/** The program's uniforms: elements, member ends, present mask, scalars row, β's and ε. */
function groupUniforms(
  attrs: NamedAttrMap,
  ends: number[],
  present: number,
  scalarsAt: number,
): { type: string; data: number[] }[] {
  const f32 = (data: number) => ({ type: "float32", data: [data] });
  return [
    { type: "int32", data: [ends.at(-1)!] },
    ...ends.map((e) => ({ type: "int32", data: [e] })),
    { type: "int32", data: [present] },
    { type: "int32", data: [scalarsAt] },
    ...["beta1", "beta2"].flatMap((k) => {
      const beta = finite(attrs, k, ADAMW_GROUP);
      return [f32(beta), f32(1 - beta)];
    }),
    f32(finite(attrs, "eps", ADAMW_GROUP)),
  ];
}

function runGroup(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const attrs = args.attrs ?? {};
  const K = ADAMW_GROUP;
  const state = float32(args.inputs["state"], "state", K);
  const ends = memberEnds(attrs);
  const scalars = float32(args.inputs["scalars"], "scalars", K);
  const scalarsAt = scalarsRow(attrs, scalars);
  const elements = ends.at(-1)!;
  if (sizeOf(state) !== 2 * elements) {
    throw new Error(
      `${WHERE}: ${K} state has ${sizeOf(state)} entries, expected 2 × ${elements} ` +
        "(interleaved m and v of the group's elements)",
    );
  }
  const present = Number(attrs["present"]);
  const { params, grads } = groupMembers(args, ends, present);
  const uniforms = groupUniforms(attrs, ends, present, scalarsAt);
  assertSoleOwner(backend, state, "state", `${WHERE} ${K}`);
  const { control, extra } = stepControl(args);
  const unused = backend.runWebGPUProgram(
    new NovalabAdamWGroupProgram(ends.length, elements, control),
    [
      flat(state),
      flat(scalars),
      ...grads.map(flat),
      ...params.map(flat),
      ...(extra ? [flat(extra)] : []),
    ],
    "float32",
    uniforms,
  );
  // The dispatch wrote the state and parameters: a CPU copy cached by an earlier read is stale.
  dropCpuCopies(backend, [state, ...params], WHERE);
  return unused;
}

/** Kernel config of the fused AdamW (webgpu). */
export function adamWKernelConfigs(): KernelConfig[] {
  return [{
    kernelName: ADAMW_GROUP,
    backendName: "webgpu",
    kernelFunc: runGroup as unknown as KernelFunc,
  }];
}
