/**
 * novalab's `BatchMatMul` and `_FusedMatMul` for tfjs-backend-webgpu: plans a
 * call (shapes, transposes, batch broadcasting, bias, activation), picks a tile
 * and runs {@linkcode NovalabMatMulProgram}. Calls the kernel does not cover
 * (non-float32 dtypes, PReLU, a bias that is not a vector over n, more than four
 * outer dimensions, dispatches beyond the device limit) go to tfjs's stock
 * kernel, so registering these never changes what tfjs accepts.
 *
 * Batch broadcasting follows NumPy: outer dimensions are right-aligned and a
 * dimension of 1 broadcasts (tfjs's own kernels only get the cases right where
 * one side's flattened batch divides the other's).
 *
 * @module
 */
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import {
  MATMUL_ACTIVATIONS,
  type MatMulActivation,
  type MatMulTile,
  NovalabMatMulProgram,
} from "./matmul_program.ts";
import { matMulTiling } from "./matmul_tuning.ts";
import { epilogueCovered, matMulVariant } from "./matmul_variant.ts";
import { type MatMulPlan, matMulUniforms, planMatMul, type ProgramUniform } from "./matmul_plan.ts";
import { matMulPrecision } from "./precision.ts";
import { runWithExtraOutputs } from "./extra_outputs.ts";
import { runSplitK, type SplitKEpilogue, type SplitKShape } from "./matmul_split_k.ts";

/** Options of {@linkcode runNovalabMatMul}. */
export interface NovalabMatMulOptions {
  /** A is stored `[..., K, M]`. */
  transposeA: boolean;
  /** B is stored `[..., N, K]`. */
  transposeB: boolean;
  /** Bias over n (any shape of size N whose other dimensions are 1). */
  bias?: TensorInfo | null;
  /** Epilogue activation (default `linear`). */
  activation?: MatMulActivation;
  /** Added after the activation; any shape with the output's size, in its order. */
  residual?: TensorInfo | null;
  /** Leaky-ReLU slope. */
  leakyreluAlpha?: number;
  /** Force a tile (tests, the tuner); default `matMulTiling` (`kernels/matmul_tuning.ts`). */
  tile?: MatMulTile;
  /** Slices of k wanted (tests; `0` or `1`: no split); default: automatic. */
  splits?: number;
  /** Also return the pre-activation (`runNovalabMatMulWithPreActivation`); never split. */
  preActivation?: boolean;
  /**
   * Multiply the result by `gate.activation`'s derivative at `gate.input`
   * (output-sized, in the output's order); never split.
   */
  gate?: { activation: "relu" | "gelu"; input: TensorInfo } | null;
  /** Stage operands in f16 (needs `shader-f16`); default: `matMulPrecision() === "f16"`. */
  f16?: boolean;
}

interface PreparedMatMul {
  program: NovalabMatMulProgram;
  inputs: TensorInfo[];
  uniforms: ProgramUniform[];
  plan: MatMulPlan;
  /** Split-K: the slices and the epilogue the reduction applies. */
  split?: { shape: SplitKShape; epilogue: SplitKEpilogue };
}

/** A tensor with another shape over the same data. */
const reshaped = (t: TensorInfo, shape: number[]): TensorInfo => ({ ...t, shape });

function prepareMatMul(
  backend: WebGPUBackend,
  a: TensorInfo,
  b: TensorInfo,
  o: NovalabMatMulOptions,
  columnSums: boolean,
): PreparedMatMul | null {
  const activation = (o.activation ?? "linear") as MatMulActivation;
  if (a.dtype !== "float32" || b.dtype !== "float32") return null;
  if (!(MATMUL_ACTIVATIONS as readonly string[]).includes(activation)) return null;
  const plan = planMatMul(a.shape, b.shape, o.transposeA, o.transposeB);
  if (!plan) return null;
  const f16 = o.f16 ?? matMulPrecision() === "f16";
  if (!epilogueCovered(plan, o, columnSums, f16)) return null;
  const [bias, residual, gate] = [o.bias ?? null, o.residual ?? null, o.gate ?? null];
  const tiling = matMulTiling(plan, {
    transposeA: o.transposeA,
    transposeB: o.transposeB,
    f16,
    epilogue: {
      bias: bias !== null,
      activation,
      residual: residual !== null,
      ...(gate ? { gate: gate.activation } : {}),
      columnSums,
      preActivation: o.preActivation === true,
    },
  }, {
    ...(o.tile ? { tile: o.tile } : {}),
    ...(o.splits === undefined ? {} : { splits: o.splits }),
  });
  const variant = matMulVariant(plan, tiling, o, { columnSums, f16 });
  const program = new NovalabMatMulProgram(variant, plan.batch, plan.m, plan.n, tiling.splits);
  program.flops = 2 * plan.batch * plan.m * plan.n * plan.k;
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  if (program.dispatch.some((d) => d > limit)) return null;
  const inputs = [a, b].map((t) =>
    reshaped(t, [t.shape.slice(0, -2).reduce((p, d) => p * d, 1), ...t.shape.slice(-2)])
  );
  const alpha = activation === "leakyrelu" ? o.leakyreluAlpha ?? 0.2 : undefined;
  // A split program has no epilogue (the reduction applies it): no slope, then the slices.
  const uniforms = matMulUniforms(
    plan,
    plan.outer,
    plan.strideA,
    plan.strideB,
    variant.splitK ? undefined : alpha,
  );
  if (variant.splitK) {
    uniforms.push({ type: "int32", data: [tiling.splits] }, {
      type: "int32",
      data: [tiling.kChunk],
    });
    const shape = { batch: plan.batch, m: plan.m, n: plan.n, splits: tiling.splits };
    const epilogue = {
      bias: bias ? reshaped(bias, [plan.n]) : null,
      activation,
      ...(alpha === undefined ? {} : { alpha }),
      residual,
    };
    return { program, inputs, uniforms, plan, split: { shape, epilogue } };
  }
  const outputSize = plan.batch * plan.m * plan.n;
  if (bias) inputs.push(reshaped(bias, [plan.n]));
  if (residual) inputs.push(reshaped(residual, [outputSize]));
  if (gate) inputs.push(reshaped(gate.input, [outputSize]));
  return { program, inputs, uniforms, plan };
}

/**
 * Runs novalab's matmul on the WebGPU backend, or returns `null` when the call
 * is outside what the kernel covers.
 */
export function runNovalabMatMul(
  backend: WebGPUBackend,
  a: TensorInfo,
  b: TensorInfo,
  o: NovalabMatMulOptions,
): TensorInfo | null {
  const prepared = prepareMatMul(backend, a, b, o, false);
  if (!prepared) return null;
  const { program, inputs, uniforms, plan, split } = prepared;
  const out = split
    ? runSplitK(backend, program, inputs, uniforms, split.shape, split.epilogue, false)[0]!
    : backend.runWebGPUProgram(program, inputs, "float32", uniforms);
  return { dataId: out.dataId, shape: plan.outShape, dtype: "float32" };
}

/**
 * `op(a) · op(b)` and, from the same dispatch, the column sums of `op(b)`
 * (sums over k, shaped like the output without its row axis: `[..., N]`) —
 * `Xᵀ·dY` and `Σ_rows dY`, a linear layer's weight and bias gradients. `null`
 * when the call is outside what the kernel covers (including f16 staging).
 */
export function runNovalabMatMulWithColumnSums(
  backend: WebGPUBackend,
  a: TensorInfo,
  b: TensorInfo,
  o: Pick<NovalabMatMulOptions, "transposeA" | "transposeB" | "tile" | "f16" | "splits">,
): [TensorInfo, TensorInfo] | null {
  const prepared = prepareMatMul(backend, a, b, o, true);
  if (!prepared) return null;
  const { program, inputs, uniforms, plan, split } = prepared;
  const [out, sums] = split
    ? runSplitK(backend, program, inputs, uniforms, split.shape, split.epilogue, true)
    : runWithExtraOutputs(backend, program, inputs, [[plan.batch, plan.n]], uniforms);
  return [
    { dataId: out!.dataId, shape: plan.outShape, dtype: "float32" },
    { dataId: sums!.dataId, shape: [...plan.outShape.slice(0, -2), plan.n], dtype: "float32" },
  ];
}

/**
 * `act(op(a)·op(b) + bias) + residual` and, from the same dispatch, the
 * pre-activation `op(a)·op(b) + bias` (what a GELU layer's gradient needs),
 * both shaped like the output; `null` when the call is outside what the kernel
 * covers.
 */
export function runNovalabMatMulWithPreActivation(
  backend: WebGPUBackend,
  a: TensorInfo,
  b: TensorInfo,
  o: NovalabMatMulOptions,
): [TensorInfo, TensorInfo] | null {
  const prepared = prepareMatMul(backend, a, b, { ...o, preActivation: true }, false);
  if (!prepared) return null;
  const { program, inputs, uniforms, plan } = prepared;
  const shape = [plan.batch, plan.m, plan.n];
  const [out, pre] = runWithExtraOutputs(backend, program, inputs, [shape], uniforms);
  return [
    { dataId: out!.dataId, shape: plan.outShape, dtype: "float32" },
    { dataId: pre!.dataId, shape: plan.outShape, dtype: "float32" },
  ];
}

interface MatMulArgs {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

/** `BatchMatMul` for webgpu: novalab's kernel, else `stock`. */
export function batchMatMulKernel(stock: KernelFunc): KernelFunc {
  return ((args: MatMulArgs) => {
    const { a, b } = args.inputs;
    const attrs = (args.attrs ?? {}) as { transposeA?: boolean; transposeB?: boolean };
    const out = runNovalabMatMul(args.backend as WebGPUBackend, a!, b!, {
      transposeA: Boolean(attrs.transposeA),
      transposeB: Boolean(attrs.transposeB),
    });
    return out ?? stock(args as Parameters<KernelFunc>[0]);
  }) as KernelFunc;
}

/** `_FusedMatMul` for webgpu (bias + activation epilogue): novalab's kernel, else `stock`. */
export function fusedMatMulKernel(stock: KernelFunc): KernelFunc {
  return ((args: MatMulArgs) => {
    const { a, b, bias, preluActivationWeights } = args.inputs;
    const attrs = (args.attrs ?? {}) as {
      transposeA?: boolean;
      transposeB?: boolean;
      activation?: string;
      leakyreluAlpha?: number;
    };
    const out = preluActivationWeights ? null : runNovalabMatMul(
      args.backend as WebGPUBackend,
      a!,
      b!,
      {
        transposeA: Boolean(attrs.transposeA),
        transposeB: Boolean(attrs.transposeB),
        bias: bias ?? null,
        activation: (attrs.activation ?? "linear") as MatMulActivation,
        ...(attrs.leakyreluAlpha === undefined ? {} : { leakyreluAlpha: attrs.leakyreluAlpha }),
      },
    );
    return out ?? stock(args as Parameters<KernelFunc>[0]);
  }) as KernelFunc;
}

/** Kernel configs replacing `stock` (looked up by the installer). */
export function matMulKernelConfigs(
  stock: { batchMatMul: KernelFunc; fusedMatMul: KernelFunc },
): KernelConfig[] {
  return [
    {
      kernelName: "BatchMatMul",
      backendName: "webgpu",
      kernelFunc: batchMatMulKernel(stock.batchMatMul),
    },
    {
      kernelName: "_FusedMatMul",
      backendName: "webgpu",
      kernelFunc: fusedMatMulKernel(stock.fusedMatMul),
    },
  ];
}
