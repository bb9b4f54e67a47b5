/**
 * The global gradient norm and its clipping factor on WebGPU in a handful of
 * dispatches, `NovalabGlobalNorm`: inputs `g0…g(n−1)` (every gradient of a
 * step), attr `maxNorm` (0: no clipping) → `[norm, scale]`, two `[1]`
 * tensors: `norm = √(Σ g²)` over all elements of all gradients and
 * `scale = min(1, maxNorm / (norm + 1e-6))` (1 without clipping) —
 * `torch.nn.utils.clip_grad_norm_`'s factor, applied by the optimiser
 * (`core/optim.ts` AdamW's `gradScale`) instead of in a pass of its own.
 *
 * The op composition costs three dispatches per parameter (square, sum, and
 * the scaling multiply) plus the adds: ≈ 600 per step for a ViT-Ti's 152
 * tensors. Here the gradients are taken in groups of as many as the device
 * binds at once: one dispatch per group, each workgroup summing the squares of
 * 2,048 consecutive elements of the group into its slot of a shared partial
 * sums tensor; then one workgroup sums the partials and writes norm and scale.
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";
import { gridFor, workgroupSumSnippet } from "./row_reduce.ts";

/** Kernel name of the global norm and clipping factor. */
export const GLOBAL_NORM = "NovalabGlobalNorm";

/** Threads per workgroup of both programs. */
const THREADS = 256;
/** Elements each thread of a group program squares and sums. */
const PER_THREAD = 8;
/** Elements per workgroup of a group program. */
export const CHUNK = THREADS * PER_THREAD;
/** Most gradients per group (bounds the shader's per-slot switch). */
export const MAX_NORM_GROUP_SLOTS = 16;

/** Gradients per group the device binds: all storage buffers but the output and the partials. */
export function normGroupSlots(maxStorageBuffersPerShaderStage: number): number {
  return Math.max(1, Math.min(MAX_NORM_GROUP_SLOTS, maxStorageBuffersPerShaderStage - 2));
}

const slotList = (n: number) => Array.from({ length: n }, (_, j) => j);

/** Sums of squares of a group's elements, 2,048 per workgroup, into `partials[offset + w]`. */
export class NovalabSquaredSumGroupProgram implements WebGPUProgram {
  /** `g0…`, then the written `partials`. */
  variableNames: string[];
  /** Unused one-element output (tfjs programs have one; the sums go to `partials`). */
  outputShape = [1];
  /** Cache key. */
  shaderKey: string;
  /** Flat layout: `main(index)` (the index goes unused; workgroups number themselves). */
  dispatchLayout = { x: [0] };
  /** One workgroup per 2,048 elements. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  /** `elements`, `offset` (first partial slot), `end0…` (cumulative element ends). */
  uniforms: string;

  /**
   * Builds the program for `members` gradients of `elements` elements in all;
   * `limit` is the device's workgroups per dimension.
   */
  constructor(readonly members: number, elements: number, limit: number) {
    this.variableNames = [...slotList(members).map((j) => `g${j}`), "partials"];
    this.dispatch = gridFor(Math.ceil(elements / CHUNK), limit);
    this.uniforms = `elements : i32, offset : i32, ${
      slotList(members).map((j) => `end${j} : i32, `).join("")
    }`;
    this.shaderKey = `novalabSquaredSumGroup${members}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const n = this.members;
    const locate = slotList(n - 1).map((j) =>
      `if (index >= uniforms.end${j}) { slot = ${j + 1}; start = uniforms.end${j}; }`
    ).join("\n      ");
    const read = slotList(n).map((j) => `case ${j}: { v = g${j}[index - start]; }`).join(" ");
    return `${workgroupSumSnippet(THREADS)}
${readWriteLine(["partials"])}
fn main(index0: i32) {
  let w = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let li = i32(localIndex);
  var s = 0.0;
  for (var r = 0; r < ${PER_THREAD}; r++) {
    let index = w * ${CHUNK} + r * ${THREADS} + li;
    if (index < uniforms.elements) {
      var slot = 0;
      var start = 0;
      ${locate}
      var v = 0.0;
      switch slot { ${read} default: {} }
      s += v * v;
    }
  }
  let total = nlReduce(vec2<f32>(s, 0.0)).x;
  if (li == 0 && w * ${CHUNK} < uniforms.elements) { partials[uniforms.offset + w] = total; }
  // The output is unused, but a binding the shader never touches drops out of its layout.
  if (li == 0 && w == 0) { result[0] = 0.0; }
}`;
  }
}

/** `√(Σ partials)` (result) and the clipping factor (`scale`), one workgroup. */
export class NovalabNormFinishProgram implements WebGPUProgram {
  /** The partial sums, then the written `scale`. */
  variableNames = ["partials", "scale"];
  /** `[1]`: the norm. */
  outputShape = [1];
  /** Cache key. */
  shaderKey = "novalabNormFinish";
  /** Flat layout: `main(index)` (the index goes unused). */
  dispatchLayout = { x: [0] };
  /** One workgroup. */
  dispatch: [number, number, number] = [1, 1, 1];
  /** Threads. */
  workgroupSize: [number, number, number] = [THREADS, 1, 1];
  /** `count` partials; `maxNorm` (0: no clipping). */
  uniforms = "count : i32, maxNorm : f32,";

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupSumSnippet(THREADS)}
${readWriteLine(["scale"])}
fn main(index0: i32) {
  let li = i32(localIndex);
  var s = 0.0;
  for (var i = li; i < uniforms.count; i += ${THREADS}) { s += partials[i]; }
  let norm = sqrt(nlReduce(vec2<f32>(s, 0.0)).x);
  if (li == 0) {
    result[0] = norm;
    // As the op composition: NaN stays NaN, an infinite norm gives 0 (WGSL may
    // otherwise assume finite values, so both are decided on the bits).
    let bits = bitcast<u32>(norm) & 0x7fffffffu;
    var factor = min(1.0, uniforms.maxNorm / (norm + 1e-6));
    if (bits == 0x7f800000u) { factor = 0.0; }
    if (bits > 0x7f800000u) { factor = norm; }
    scale[0] = select(1.0, factor, uniforms.maxNorm > 0.0);
  }
}`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

const sizeOf = (t: TensorInfo) => t.shape.reduce((p, d) => p * d, 1);

function runGlobalNorm(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const maxNorm = Number(args.attrs?.["maxNorm"] ?? 0);
  if (!(maxNorm >= 0 && Number.isFinite(maxNorm))) {
    throw new Error(`kernels/grad_norm.ts: ${GLOBAL_NORM} maxNorm must be ≥ 0, got ${maxNorm}`);
  }
  const grads = Object.keys(args.inputs).sort((a, b) => Number(a.slice(1)) - Number(b.slice(1)))
    .map((k) => args.inputs[k]!).filter((g) => sizeOf(g) > 0);
  for (const g of grads) {
    if (g.dtype !== "float32") {
      throw new Error(
        `kernels/grad_norm.ts: ${GLOBAL_NORM} takes float32 gradients, got ${g.dtype}`,
      );
    }
  }
  if (grads.length === 0) {
    // No gradient at all: norm 0, nothing to clip.
    return [
      backend.makeTensorInfo([1], "float32", Float32Array.of(0)),
      backend.makeTensorInfo([1], "float32", Float32Array.of(1)),
    ];
  }
  const { maxStorageBuffersPerShaderStage, maxComputeWorkgroupsPerDimension: limit } =
    backend.device.limits;
  const slots = normGroupSlots(maxStorageBuffersPerShaderStage);
  const groups: TensorInfo[][] = [];
  for (let i = 0; i < grads.length; i += slots) groups.push(grads.slice(i, i + slots));
  const chunksOf = (group: TensorInfo[]) =>
    Math.ceil(group.reduce((p, g) => p + sizeOf(g), 0) / CHUNK);
  const count = groups.reduce((p, g) => p + chunksOf(g), 0);
  const partials = backend.makeTensorInfo([count], "float32");
  const int = (v: number) => ({ type: "int32" as const, data: [v] });
  try {
    let offset = 0;
    for (const group of groups) {
      let end = 0;
      const ends = group.map((g) => (end += sizeOf(g)));
      const dummy = backend.runWebGPUProgram(
        new NovalabSquaredSumGroupProgram(group.length, end, limit),
        [...group.map((g) => ({ ...g, shape: [sizeOf(g)] })), partials],
        "float32",
        [int(end), int(offset), ...ends.map(int)],
      );
      backend.disposeData(dummy.dataId);
      offset += chunksOf(group);
    }
    return runWithExtraOutputs(backend, new NovalabNormFinishProgram(), [partials], [[1]], [
      int(count),
      { type: "float32", data: [maxNorm] },
    ]);
  } finally {
    backend.disposeData(partials.dataId);
  }
}

/** Kernel config of the global norm (webgpu). */
export function globalNormKernelConfigs(): KernelConfig[] {
  return [{
    kernelName: GLOBAL_NORM,
    backendName: "webgpu",
    kernelFunc: runGlobalNorm as unknown as KernelFunc,
  }];
}
