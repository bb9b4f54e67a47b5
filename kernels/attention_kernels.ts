/**
 * Kernel registrations of the fused WebGPU self-attention: the four programs
 * of `kernels/attention_programs.ts` under novalab's kernel names, each sized
 * to the device's workgroup memory. The differentiable op is `selfAttention`
 * in `kernels/attention.ts`.
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { runWithExtraOutputs } from "./extra_outputs.ts";
import { type AttentionGeometry, attentionTile } from "./attention_programs.ts";
import { NovalabAttentionForwardProgram } from "./attention_forward_program.ts";
import { splitKeyValue } from "./attention_tuning.ts";
import {
  NovalabAttentionGradKeyProgram,
  NovalabAttentionGradKeyValueProgram,
  NovalabAttentionGradQueryProgram,
  NovalabAttentionGradValueProgram,
} from "./attention_grad_programs.ts";

/** Environment switch: `1` forces the compact attention programs, `0` the tiled, unrolled ones. */
export const ATTENTION_COMPACT_ENV = "NOVALAB_ATTENTION_COMPACT";

/** Vulkan's vendor id of Mesa's software drivers (llvmpipe/lavapipe), as wgpu reports it. */
const MESA_SOFTWARE_VENDOR = "65541";

/**
 * Whether the attention programs take their compact form on `backend`
 * (`AttentionGeometry.compact`): yes on Mesa's software adapter, no on GPUs;
 * `NOVALAB_ATTENTION_COMPACT=0|1` overrides (tests use it to run the tiled
 * form on the fallback adapter at small head widths).
 */
export function attentionCompact(backend: WebGPUBackend): boolean {
  let flag: string | undefined;
  try {
    flag = Deno.env.get(ATTENTION_COMPACT_ENV);
  } catch {
    flag = undefined;
  }
  if (flag === "1" || flag === "0") return flag === "1";
  const info = backend.adapterInfo as unknown as { vendor?: string } | undefined;
  return info?.vendor === MESA_SOFTWARE_VENDOR;
}

export { ATTENTION_SPLIT_KV_ENV } from "./attention_tuning.ts";

/** Kernel name of the fused forward pass: `[O, ℓ]` (ℓ: per-query log-sum-exp `[N·H, T]`). */
export const ATTENTION_FORWARD = "NovalabAttention";
/** Kernel name of dQ: `[dQ, stats]` (stats: per-query `[ℓ, δ = dO·O]`, `[N·H, T, 2]`). */
export const ATTENTION_GRAD_QUERY = "NovalabAttentionGradQuery";
/** Kernel name of the QKV gradient (dQ given, dK and dV computed). */
export const ATTENTION_GRAD_KEY_VALUE = "NovalabAttentionGradKeyValue";

/**
 * The geometry of a fused QKV projection `[N, T, 3D]` with `heads` heads;
 * throws naming `what` unless it is float32 with `D` divisible by `heads`.
 */
export function geometryOf(
  qkv: TensorInfo,
  heads: number,
  what: string,
): Omit<AttentionGeometry, "tile" | "compact" | "keyBias"> {
  const [n, t, d3] = qkv.shape as [number, number, number];
  const dh = d3 / 3 / heads;
  if (qkv.shape.length !== 3 || !Number.isInteger(dh) || dh < 1 || qkv.dtype !== "float32") {
    throw new Error(
      `kernels/attention.ts: ${what} has ${qkv.dtype} [${qkv.shape}]; expected float32 ` +
        `[N, T, 3·D] with D divisible by heads (${heads})`,
    );
  }
  return { n, t, heads, dh };
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

type ProgramClass = new (g: AttentionGeometry) => WebGPUProgram;

/**
 * A kernel function running `Program` on the inputs named `names` (the first
 * is `qkv`), plus `keyBias` `[N, T]` when given; with `extra`, the program
 * also writes outputs of those shapes (returned after its own).
 */
function kernel(
  Program: ProgramClass,
  names: string[],
  extraFloatsPerRow = 0,
  extra?: (g: AttentionGeometry) => number[][],
) {
  return (args: Args): TensorInfo[] => {
    const backend = args.backend as WebGPUBackend;
    const heads = Number((args.attrs ?? {}).heads);
    const base = geometryOf(args.inputs.qkv!, heads, "qkv");
    const limit = backend.device.limits.maxComputeWorkgroupStorageSize;
    const tile = attentionTile(base.dh, limit, extraFloatsPerRow);
    const keyBias = args.inputs.keyBias !== undefined;
    const g = { ...base, tile, compact: attentionCompact(backend), keyBias };
    const inputs = (keyBias ? [...names, "keyBias"] : names).map((name) => args.inputs[name]!);
    const int = (v: number) => ({ type: "int32" as const, data: [v] });
    const uniforms = [int(g.t), int(heads)];
    return extra
      ? runWithExtraOutputs(backend, new Program(g), inputs, extra(g), uniforms)
      : [backend.runWebGPUProgram(new Program(g), inputs, "float32", uniforms)];
  };
}

/** Kernel configs of the fused attention (webgpu). */
export function attentionKernelConfigs(): KernelConfig[] {
  const config = (kernelName: string, f: (a: Args) => TensorInfo | TensorInfo[]): KernelConfig => ({
    kernelName,
    backendName: "webgpu",
    kernelFunc: f as unknown as KernelFunc,
  });
  const fusedKeyValue = kernel(
    NovalabAttentionGradKeyValueProgram,
    ["qkv", "dy", "stats", "dq"],
    2,
  );
  const value = kernel(NovalabAttentionGradValueProgram, ["qkv", "dy", "stats"], 2);
  const key = kernel(NovalabAttentionGradKeyProgram, ["qkv", "dy", "stats", "dq", "dv"], 2);
  const keyValue = (args: Args): TensorInfo => {
    const heads = Number((args.attrs ?? {}).heads);
    const shape = {
      ...geometryOf(args.inputs.qkv!, heads, "qkv"),
      keyBias: args.inputs.keyBias !== undefined,
    };
    if (!splitKeyValue(shape)) return fusedKeyValue(args)[0]!;
    const dv = value(args)[0]!;
    const out = key({ ...args, inputs: { ...args.inputs, dv } })[0]!;
    (args.backend as WebGPUBackend).disposeData(dv.dataId);
    return out;
  };
  const perQuery = (g: AttentionGeometry) => [g.n * g.heads, g.t];
  return [
    config(
      ATTENTION_FORWARD,
      kernel(NovalabAttentionForwardProgram, ["qkv"], 0, (g) => [perQuery(g)]),
    ),
    config(
      ATTENTION_GRAD_QUERY,
      kernel(
        NovalabAttentionGradQueryProgram,
        ["qkv", "dy", "logSumExp", "o"],
        0,
        (g) => [[...perQuery(g), 2]],
      ),
    ),
    config(ATTENTION_GRAD_KEY_VALUE, keyValue),
  ];
}
