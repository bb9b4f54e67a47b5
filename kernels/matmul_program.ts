/**
 * A register-tiled WGSL matmul as a tfjs-backend-webgpu program:
 * `C[z] = act(op(A[z]) · op(B[z]) + bias) + R[z]` for `op ∈ {identity, transpose}`,
 * bias, activation and the residual `R` each optional.
 *
 * Design (after `shared/probes/wgsl_sgemm.ts`): a workgroup computes a
 * `TILE_M × TILE_N` block of C; each thread owns `tm × tn` outputs held in named
 * `vec4` accumulators (dynamically indexed arrays end up in slow local memory);
 * each `bk`-deep slice of A and B is staged in workgroup memory stored k-major
 * (`[bk][TILE]`), so the unrolled inner loop reads whole `vec4`s of A and B.
 * Global loads are `vec4` wide when the operand's contiguous axis is a multiple
 * of 4 and scalar otherwise; out-of-range rows/columns/depths are loaded as
 * zero and never stored, so any size works. The batch index of A and B comes
 * from broadcast strides over up to four outer dimensions. The epilogue adds a
 * bias over n, applies the activation and adds a residual of C's shape (a
 * transformer block's skip connection) before the (vec4 when `n % 4 == 0`)
 * store. M, N, K, strides and the leaky-ReLU slope are uniforms, so one compiled
 * pipeline serves every shape of the same variant.
 *
 * The `columnSums` variant also sums the staged B slices over k in the threads
 * of the first row of workgroups, which are the only ones that store them.
 *
 * The `f16` variant (`precision: f16`, `kernels/precision.ts`) stages both
 * operands as `vec4<f16>` (rounded, saturating at ±65504) — half the workgroup
 * memory and shared-memory traffic — and widens them back to fp32 for the
 * products and sums, which are exact and fp32 as in a tensor-core fp16 GEMM.
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { readWriteLine } from "./extra_outputs.ts";
import {
  activationBody,
  columnSumAccumulate,
  columnSumStore,
  epilogue,
  gateGradFunction,
  innerProducts,
  laneLoader,
} from "./matmul_shader_parts.ts";
import { kLoop, stageOperand } from "./matmul_staging.ts";

/** Work split of one workgroup: threads `wgX × wgY`, outputs per thread `tm × tn`, depth `bk`. */
export interface MatMulTile {
  /** Name used in shader keys and reports. */
  name: string;
  /** Threads along n. */
  wgX: number;
  /** Threads along m. */
  wgY: number;
  /** Output rows per thread (multiple of 4). */
  tm: number;
  /** Output columns per thread (multiple of 4). */
  tn: number;
  /** Depth of one staged K slice. */
  bk: number;
  /** A thread's vec4 groups strided by the workgroup's width (`kernels/matmul_staging.ts`). */
  interleave?: boolean;
  /** The next K slice is loaded into registers while this one is multiplied. */
  prefetch?: boolean;
  /**
   * Two workgroup copies of each operand's slice: the next slice is loaded
   * into registers and stored into the other copy while this one is
   * multiplied — one barrier per slice instead of two (`kernels/matmul_staging.ts`).
   */
  doubleBuffer?: boolean;
}

/** The tile shapes the kernel is generated for (largest first). */
export const MATMUL_TILES: readonly MatMulTile[] = [
  { name: "t128", wgX: 16, wgY: 16, tm: 8, tn: 8, bk: 8 },
  { name: "t64", wgX: 16, wgY: 16, tm: 4, tn: 4, bk: 16 },
  { name: "t32", wgX: 8, wgY: 8, tm: 4, tn: 4, bk: 16 },
];

/**
 * Activations of the fused epilogue (tfjs `_FusedMatMul` names, `linear` =
 * none; and `gelu`, the exact erf form, which tfjs never asks for).
 */
export const MATMUL_ACTIVATIONS = [
  "linear",
  "relu",
  "relu6",
  "elu",
  "sigmoid",
  "leakyrelu",
  "gelu",
] as const;

/** One of {@linkcode MATMUL_ACTIVATIONS}. */
export type MatMulActivation = typeof MATMUL_ACTIVATIONS[number];

/** Everything that changes the generated shader. */
export interface MatMulVariant {
  /** Tile shape. */
  tile: MatMulTile;
  /** A is stored `[K, M]`. */
  transposeA: boolean;
  /** B is stored `[N, K]`. */
  transposeB: boolean;
  /** A's contiguous axis is a multiple of 4 (vec4 loads). */
  vec4A: boolean;
  /** B's contiguous axis is a multiple of 4 (vec4 loads). */
  vec4B: boolean;
  /** N is a multiple of 4 (vec4 stores and bias reads). */
  vec4Out: boolean;
  /** A bias of length N is added. */
  bias: boolean;
  /** Epilogue activation. */
  activation: MatMulActivation;
  /** A residual of the output's shape is added after the activation. */
  residual?: boolean;
  /**
   * Also writes `op(A)·op(B) + bias` before the activation to the extra output
   * `preAct` (what a GELU's gradient needs). No split-K.
   */
  preActivation?: boolean;
  /**
   * Multiplies the result by the derivative of this activation at the input
   * `gate` (output-shaped): a layer's `dX` times the previous layer's
   * activation gradient, `(dY·Wᵀ) ⊙ act'(gate)`. No split-K.
   */
  gate?: "relu" | "gelu";
  /**
   * k is cut into `uniforms.splits` slices of `uniforms.kChunk`: workgroup z
   * `b · splits + s` computes slice s of batch b into its own `[M, N]` block of
   * a `[batch · splits, M, N]` output (no epilogue; `kernels/matmul_split_k.ts`
   * sums the blocks and applies it). Column sums are per slice too.
   */
  splitK?: boolean;
  /** Operands staged in half precision (needs `shader-f16`); default fp32. */
  f16?: boolean;
  /**
   * Also writes the column sums of op(B) (its sums over k, `[batch, N]`) to the
   * extra output `colSums` — a linear layer's bias gradient beside its weight
   * gradient `Xᵀ·dY`, in the same dispatch. fp32 staging only.
   */
  columnSums?: boolean;
}

/** The full user code (tfjs adds bindings, uniforms and the `_start` entry point). */
export function matMulShader(v: MatMulVariant): string {
  const t = v.tile;
  const tileM = t.wgY * t.tm, tileN = t.wgX * t.tn;
  const acc: string[] = [];
  for (let i = 0; i < t.tm; i++) {
    for (let j = 0; j < t.tn / 4; j++) acc.push(`var c${i}_${j} = vec4<f32>(0.0);`);
  }
  const batchDims = ["w", "z", "y", "x"].map((d) =>
    `  { let d = z % uniforms.outer.${d}; z = z / uniforms.outer.${d};
    offA += d * uniforms.strideA.${d}; offB += d * uniforms.strideB.${d}; }`
  );
  const f16 = v.f16 === true;
  const sums = v.columnSums === true;
  const split = v.splitK === true;
  if (
    split && (v.bias || v.activation !== "linear" || v.residual || v.preActivation || v.gate)
  ) {
    throw new Error("kernels/matmul_program.ts: a split-K program has no epilogue");
  }
  const kRange = split
    ? `let kBegin = (z % uniforms.splits) * uniforms.kChunk;
  let kEnd = min(K, kBegin + uniforms.kChunk); z = z / uniforms.splits;`
    : "let kBegin = 0; let kEnd = K;";
  if (sums && f16) {
    throw new Error("kernels/matmul_program.ts: column sums need fp32 staging (f16 is off)");
  }
  const staged = f16 ? "f16" : "f32";
  const copies = t.doubleBuffer ? 2 : 1;
  const sumDecl = !sums ? "" : `let sumRow = i32(workgroupId.y) == 0 && ty == 0;
  ${Array.from({ length: t.tn / 4 }, (_, j) => `var s${j} = vec4<f32>(0.0);`).join(" ")}`;
  return `${f16 ? "enable f16;" : ""}
${
    sums || v.preActivation
      ? readWriteLine([...(sums ? ["colSums"] : []), ...(v.preActivation ? ["preAct"] : [])])
      : ""
  }
fn nlAct(v: vec4<f32>) -> vec4<f32> { ${activationBody(v.activation)} }
${
    v.bias && !v.vec4Out
      ? `fn nlBias4(c: i32) -> vec4<f32> {
  var b = vec4<f32>(0.0);
  for (var k = 0; k < 4; k++) { if (c + k < uniforms.dimN) { b[k] = bias[c + k]; } }
  return b;
}`
      : ""
  }
${v.residual && !v.vec4Out ? laneLoader("residual") : ""}
${v.gate && !v.vec4Out ? laneLoader("gate") : ""}
${v.gate ? gateGradFunction(v.gate) : ""}
var<workgroup> As: array<vec4<${staged}>, ${(copies * t.bk * tileM) / 4}>;
var<workgroup> Bs: array<vec4<${staged}>, ${(copies * t.bk * tileN) / 4}>;
fn main() {
  let M = uniforms.dimM; let N = uniforms.dimN; let K = uniforms.dimK;
  let tx = i32(localId.x); let ty = i32(localId.y); let li = i32(localIndex);
  let row0 = i32(workgroupId.y) * ${tileM}; let col0 = i32(workgroupId.x) * ${tileN};
  var z = i32(workgroupId.z); var offA = 0; var offB = 0;
  ${kRange}
${batchDims.join("\n")}
  let offC = i32(workgroupId.z) * M * N;
  ${acc.join(" ")}
  ${sumDecl}
${
    kLoop(
      t,
      stageOperand("A", t, !v.transposeA, v.vec4A, f16),
      stageOperand("B", t, v.transposeB, v.vec4B, f16),
      `${innerProducts(t, f16).join("\n")}\n${sums ? columnSumAccumulate(t) : ""}`,
    )
  }
${epilogue(v).join("\n")}
${sums ? columnSumStore(t) : ""}
}
`;
}

/** The tfjs program object; `dispatch` covers `[batch, M, N]` with one workgroup per tile. */
export class NovalabMatMulProgram implements WebGPUProgram {
  /**
   * Inputs: `A`, `B`, optionally `bias`, `residual`, `gate`; then the written
   * extra outputs `colSums` (column sums) or `preAct` (pre-activation).
   */
  variableNames: string[];
  /** Per-input vector width of the storage arrays. */
  variableComponents: number[];
  /** `[batch, M, N]`. */
  outputShape: number[];
  /** Output array element width (4 when N % 4 == 0). */
  outputComponent: number;
  /** Cache key of the generated shader (tfjs appends ranks and dtypes). */
  shaderKey: string;
  /** tfjs's dispatch layout (kept non-flat so `main()` takes no index). */
  dispatchLayout = { x: [2], y: [1], z: [0] };
  /** Workgroups along n, m and batch. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number];
  /** Program-defined uniforms (values: `matMulUniforms` in `kernels/matmul.ts`). */
  uniforms: string;
  /**
   * Floating-point operations of the product, 2·batch·M·N·K (set by the caller,
   * which knows K): GPU profiles (`core/gpu_profile.ts`) report TFLOP/s from it.
   */
  flops = 0;

  /**
   * Builds the program for `variant` and output `[batch, M, N]`
   * (`[batch · splits, M, N]` partial products for the split-K variant).
   */
  constructor(
    readonly variant: MatMulVariant,
    batch: number,
    m: number,
    n: number,
    splits = 1,
  ) {
    const t = variant.tile;
    this.variableNames = ["A", "B"];
    const outWidth = variant.vec4Out ? 4 : 1;
    this.variableComponents = [variant.vec4A ? 4 : 1, variant.vec4B ? 4 : 1];
    if (variant.bias) {
      this.variableNames.push("bias");
      this.variableComponents.push(outWidth);
    }
    if (variant.residual) {
      this.variableNames.push("residual");
      this.variableComponents.push(outWidth);
    }
    if (variant.columnSums) {
      this.variableNames.push("colSums");
      this.variableComponents.push(1);
    }
    if (variant.gate) {
      this.variableNames.push("gate");
      this.variableComponents.push(outWidth);
    }
    if (variant.preActivation) {
      this.variableNames.push("preAct");
      this.variableComponents.push(outWidth);
    }
    const slices = variant.splitK ? splits : 1;
    this.outputShape = [batch * slices, m, n];
    this.outputComponent = outWidth;
    this.workgroupSize = [t.wgX, t.wgY, 1];
    this.dispatch = [
      Math.ceil(n / (t.wgX * t.tn)),
      Math.ceil(m / (t.wgY * t.tm)),
      batch * slices,
    ];
    this.uniforms = "dimM : i32, dimN : i32, dimK : i32, outer : vec4<i32>, " +
      "strideA : vec4<i32>, strideB : vec4<i32>," +
      (variant.activation === "leakyrelu" ? " alpha : f32," : "") +
      (variant.splitK ? " splits : i32, kChunk : i32," : "");
    this.shaderKey = `novalabMatMul_${t.name}_${variant.transposeA}_${variant.transposeB}_` +
      `${variant.vec4A}_${variant.vec4B}_${variant.vec4Out}_${variant.bias}_${variant.activation}` +
      (variant.f16 ? "_f16" : "") + (variant.columnSums ? "_colsum" : "") +
      (variant.residual ? "_res" : "") + (variant.splitK ? "_splitk" : "") +
      (variant.preActivation ? "_preact" : "") + (variant.gate ? `_gate${variant.gate}` : "");
  }

  /** The WGSL user code. */
  getUserCode(): string {
    return matMulShader(this.variant);
  }
}
