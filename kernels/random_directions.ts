/**
 * SIGReg's random unit directions `[K, M]` drawn on the GPU
 * (`losses/random_directions.ts` defines the stream; this is its WebGPU
 * form): one thread per direction m draws its K Gaussian entries with
 * Philox4x32-10 (`core/philox.ts`; counter `(j, m, 0, 0)` gives rows
 * `4j … 4j+3`), sums their squares, then draws them again and writes them
 * divided by the norm. Only the 64-bit key (two int32 words, a host value a
 * replayed step re-derives) comes from the host: a NOVA step on a 768-wide
 * embedding with 1024 slices drew 786 432 normals in JavaScript (≈ 40 ms)
 * and uploaded 3 MiB.
 *
 * Kernel: `NovalabRandomDirections` (input `key` int32 `[2]`; attrs `dim`,
 * `slices`) → float32 `[dim, slices]`. No gradient: the directions are
 * constants.
 *
 * @module
 */
import type { KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { PHILOX_WGSL } from "../core/philox.ts";
import { webgpuKernelConfigs } from "./custom_grad.ts";
import { FlatProgram } from "./program_base.ts";

/** Kernel name. */
export const RANDOM_DIRECTIONS = "NovalabRandomDirections";

/** Directions `[dim, slices]`, one thread per direction (column). */
export class NovalabRandomDirectionsProgram extends FlatProgram {
  /** The Philox key: two int32 words (low, high). */
  variableNames = ["philoxKey"];
  /** Cache key. */
  shaderKey = "novalabRandomDirections";
  /** Embedding dimension K and number of directions M. */
  uniforms = "dim : i32, slices : i32,";

  /** Threads for `slices` columns writing `[dim · slices]`. */
  constructor(dim: number, slices: number) {
    super(slices);
    this.outputShape = [dim * slices];
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${PHILOX_WGSL}
fn nlColumnDraw(j : i32, m : i32) -> vec4<f32> {
  let k = vec2<u32>(bitcast<u32>(philoxKey[0]), bitcast<u32>(philoxKey[1]));
  return normals4(philox4x32(vec4<u32>(u32(j), u32(m), 0u, 0u), k));
}

fn nlMasked(z : vec4<f32>, row : i32) -> vec4<f32> {
  let rows = vec4<i32>(row, row + 1, row + 2, row + 3);
  return select(vec4<f32>(0.0), z, rows < vec4<i32>(uniforms.dim));
}

fn main(index : i32) {
  let M = uniforms.slices;
  if (index >= M) { return; }
  let groups = (uniforms.dim + 3) / 4;
  var sq = 0.0;
  for (var j = 0; j < groups; j++) {
    let z = nlMasked(nlColumnDraw(j, index), 4 * j);
    sq = sq + dot(z, z);
  }
  let inv = 1.0 / sqrt(max(sq, 1e-30)); // never 0 (u < 1), but a zero column stays zero, not NaN
  for (var j = 0; j < groups; j++) {
    let z = nlColumnDraw(j, index) * inv;
    let row = 4 * j;
    result[row * M + index] = z.x;
    if (row + 1 < uniforms.dim) { result[(row + 1) * M + index] = z.y; }
    if (row + 2 < uniforms.dim) { result[(row + 2) * M + index] = z.z; }
    if (row + 3 < uniforms.dim) { result[(row + 3) * M + index] = z.w; }
  }
}`;
  }
}

interface Args {
  inputs: { key?: TensorInfo };
  backend: unknown;
  attrs?: NamedAttrMap;
}

function run(args: Args): TensorInfo {
  const key = args.inputs.key;
  const dim = Number(args.attrs?.["dim"]);
  const slices = Number(args.attrs?.["slices"]);
  if (!key || key.dtype !== "int32" || key.shape.length !== 1 || key.shape[0] !== 2) {
    throw new Error("kernels/random_directions.ts: key must be int32 [2] (the Philox key words)");
  }
  for (const [name, value] of [["dim", dim], ["slices", slices]] as const) {
    if (!Number.isInteger(value) || value < 1) {
      throw new Error(
        `kernels/random_directions.ts: ${name} must be a positive integer, got ${value}`,
      );
    }
  }
  const backend = args.backend as WebGPUBackend;
  const out = backend.runWebGPUProgram(
    new NovalabRandomDirectionsProgram(dim, slices),
    [key],
    "float32",
    [{ type: "int32", data: [dim] }, { type: "int32", data: [slices] }],
  );
  return { ...out, shape: [dim, slices] };
}

/** Kernel config (webgpu). */
export function randomDirectionsKernelConfigs(): KernelConfig[] {
  return webgpuKernelConfigs({ [RANDOM_DIRECTIONS]: run });
}
