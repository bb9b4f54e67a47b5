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
  MATMUL_TILES,
  type MatMulActivation,
  type MatMulTile,
  NovalabMatMulProgram,
} from "./matmul_program.ts";
import { matMulPrecision } from "./precision.ts";
import { runWithExtraOutputs } from "./extra_outputs.ts";

/** A planned matmul: everything the program and its uniforms need. */
export interface MatMulPlan {
  /** Output shape as tfjs expects it (broadcast outer dims, then `[M, N]`). */
  outShape: number[];
  /** Flattened output batch. */
  batch: number;
  /** Rows of op(A). */
  m: number;
  /** Columns of op(B). */
  n: number;
  /** Shared depth. */
  k: number;
  /** Broadcast outer shape, padded in front with 1s to length 4. */
  outer: number[];
  /** Element stride of A per outer dimension (0 where A broadcasts). */
  strideA: number[];
  /** Element stride of B per outer dimension (0 where B broadcasts). */
  strideB: number[];
}

function broadcastStrides(dims: number[], outer: number[], matrix: number): number[] | null {
  const padded = [...Array(outer.length - dims.length).fill(1), ...dims];
  const strides = Array(outer.length).fill(0);
  let step = matrix;
  for (let i = outer.length - 1; i >= 0; i--) {
    if (padded[i] !== outer[i] && padded[i] !== 1) return null;
    strides[i] = padded[i] === 1 ? 0 : step;
    step *= padded[i];
  }
  return strides;
}

/**
 * Shapes of `op(a) · op(b)` with NumPy batch broadcasting over at most four
 * outer dimensions; `null` when the shapes are not supported (the caller then
 * uses tfjs's stock kernel, which reports invalid shapes in tfjs's words).
 */
export function planMatMul(
  aShape: number[],
  bShape: number[],
  transposeA: boolean,
  transposeB: boolean,
): MatMulPlan | null {
  if (aShape.length < 2 || bShape.length < 2) return null;
  const [ar, ac] = aShape.slice(-2) as [number, number];
  const [br, bc] = bShape.slice(-2) as [number, number];
  const m = transposeA ? ac : ar, k = transposeA ? ar : ac;
  const n = transposeB ? br : bc, kb = transposeB ? bc : br;
  if (k !== kb || m * n * k === 0) return null;
  const outerA = aShape.slice(0, -2), outerB = bShape.slice(0, -2);
  const rank = Math.max(outerA.length, outerB.length);
  if (rank > 4) return null;
  const padA = [...Array(rank - outerA.length).fill(1), ...outerA];
  const padB = [...Array(rank - outerB.length).fill(1), ...outerB];
  const outerOut = padA.map((d, i) => Math.max(d, padB[i]!));
  const outer4 = [...Array(4 - rank).fill(1), ...outerOut];
  const strideA = broadcastStrides(outerA, outer4, m * k);
  const strideB = broadcastStrides(outerB, outer4, k * n);
  if (!strideA || !strideB) return null;
  return {
    outShape: [...outerOut, m, n],
    batch: outerOut.reduce((p, d) => p * d, 1),
    m,
    n,
    k,
    outer: outer4,
    strideA,
    strideB,
  };
}

/**
 * The largest tile that still gives `minWorkgroups` workgroups (untuned: the
 * threshold is a guess for a ~100-SM GPU; small problems get small tiles so
 * little work is wasted on padding).
 */
export function chooseTile(plan: MatMulPlan, minWorkgroups = 256): MatMulTile {
  for (const t of MATMUL_TILES) {
    const groups = plan.batch * Math.ceil(plan.m / (t.wgY * t.tm)) *
      Math.ceil(plan.n / (t.wgX * t.tn));
    if (groups >= minWorkgroups) return t;
  }
  return MATMUL_TILES[MATMUL_TILES.length - 1]!;
}

/** A tfjs program uniform value. */
export interface ProgramUniform {
  /** Storage type. */
  type: "int32" | "float32";
  /** Values (a vector of up to 4 for `vec4`). */
  data: number[];
}

/** Uniform values for {@linkcode NovalabMatMulProgram}: sizes, batch broadcast strides, slope. */
export function matMulUniforms(
  dims: { m: number; n: number; k: number },
  outer: number[],
  strideA: number[],
  strideB: number[],
  alpha?: number,
): ProgramUniform[] {
  const u: ProgramUniform[] = [
    { type: "int32", data: [dims.m] },
    { type: "int32", data: [dims.n] },
    { type: "int32", data: [dims.k] },
    { type: "int32", data: outer },
    { type: "int32", data: strideA },
    { type: "int32", data: strideB },
  ];
  if (alpha !== undefined) u.push({ type: "float32", data: [alpha] });
  return u;
}

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
  /** Force a tile (tests); default {@linkcode chooseTile}. */
  tile?: MatMulTile;
  /** Stage operands in f16 (needs `shader-f16`); default: `matMulPrecision() === "f16"`. */
  f16?: boolean;
}

interface PreparedMatMul {
  program: NovalabMatMulProgram;
  inputs: TensorInfo[];
  uniforms: ProgramUniform[];
  plan: MatMulPlan;
}

function prepareMatMul(
  backend: WebGPUBackend,
  a: TensorInfo,
  b: TensorInfo,
  o: NovalabMatMulOptions,
  columnSums: boolean,
): PreparedMatMul | null {
  const activation = o.activation ?? "linear";
  if (a.dtype !== "float32" || b.dtype !== "float32") return null;
  if (!(MATMUL_ACTIVATIONS as readonly string[]).includes(activation)) return null;
  const plan = planMatMul(a.shape, b.shape, o.transposeA, o.transposeB);
  if (!plan) return null;
  const bias = o.bias ?? null;
  if (bias) {
    const size = bias.shape.reduce((p, d) => p * d, 1);
    const vectorOverN = size === plan.n && bias.shape.slice(0, -1).every((d) => d === 1) &&
      bias.shape.length <= plan.outShape.length;
    if (bias.dtype !== "float32" || !vectorOverN) return null;
  }
  const residual = o.residual ?? null;
  if (residual) {
    const size = residual.shape.reduce((p, d) => p * d, 1);
    if (residual.dtype !== "float32" || size !== plan.batch * plan.m * plan.n) return null;
  }
  const f16 = o.f16 ?? matMulPrecision() === "f16";
  if (columnSums && f16) return null;
  const tile = o.tile ?? chooseTile(plan);
  const program = new NovalabMatMulProgram(
    {
      tile,
      transposeA: o.transposeA,
      transposeB: o.transposeB,
      vec4A: (o.transposeA ? plan.m : plan.k) % 4 === 0,
      vec4B: (o.transposeB ? plan.k : plan.n) % 4 === 0,
      vec4Out: plan.n % 4 === 0,
      bias: bias !== null,
      activation: activation as MatMulActivation,
      residual: residual !== null,
      f16,
      columnSums,
    },
    plan.batch,
    plan.m,
    plan.n,
  );
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  if (program.dispatch.some((d) => d > limit)) return null;
  const flat = (t: TensorInfo, shape: number[]): TensorInfo => ({ ...t, shape });
  const inputs = [
    flat(a, [a.shape.slice(0, -2).reduce((p, d) => p * d, 1), ...a.shape.slice(-2)]),
    flat(b, [b.shape.slice(0, -2).reduce((p, d) => p * d, 1), ...b.shape.slice(-2)]),
  ];
  if (bias) inputs.push(flat(bias, [plan.n]));
  if (residual) inputs.push(flat(residual, [plan.batch * plan.m * plan.n]));
  const uniforms = matMulUniforms(
    plan,
    plan.outer,
    plan.strideA,
    plan.strideB,
    activation === "leakyrelu" ? o.leakyreluAlpha ?? 0.2 : undefined,
  );
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
  const { program, inputs, uniforms, plan } = prepared;
  const out = backend.runWebGPUProgram(program, inputs, "float32", uniforms);
  return { dataId: out.dataId, shape: plan.outShape, dtype: out.dtype };
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
  o: Pick<NovalabMatMulOptions, "transposeA" | "transposeB" | "tile" | "f16">,
): [TensorInfo, TensorInfo] | null {
  const prepared = prepareMatMul(backend, a, b, o, true);
  if (!prepared) return null;
  const { program, inputs, uniforms, plan } = prepared;
  const [out, sums] = runWithExtraOutputs(
    backend,
    program,
    inputs,
    [[plan.batch, plan.n]],
    uniforms,
  );
  return [
    { dataId: out!.dataId, shape: plan.outShape, dtype: "float32" },
    { dataId: sums!.dataId, shape: [...plan.outShape.slice(0, -2), plan.n], dtype: "float32" },
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
