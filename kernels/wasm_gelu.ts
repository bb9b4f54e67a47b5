/**
 * GELU `0.5·x·(1 + erf(x/√2))` on tfjs's WASM backend as one generated SIMD
 * kernel forward and one backward (`gelu'(x) = 0.5·(1 + erf(x/√2)) +
 * x·exp(−x²/2)/√(2π)`), in place of the op composition's 5 forward and ~10
 * backward kernels (~100 ms per [12800, 256] MLP activation and step on this
 * project's machine, against a few ms fused). `erf` is Abramowitz & Stegun
 * 7.1.26 (absolute error ≤ 1.5·10⁻⁷), `exp` a Cephes-style range reduction and
 * polynomial; the last `n mod 4` elements run the same formulas in JavaScript.
 *
 * Exports of the generated module: `gelu(x, y, n)`, `gelu_grad(x, dy, dx, n)`
 * (`n` a multiple of 4).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { GradSaveFunc, Tensor } from "../core/tensor.ts";
import { FunctionBuilder, type Local, type ModuleBuilder } from "./wasm_asm.ts";
import {
  registerWasmKernels,
  requireFloat32,
  runWasmKernel,
  type WasmKernelSpec,
} from "./wasm_register.ts";
import type { WasmKernels } from "./wasm_runtime.ts";
import { cutRanges } from "./wasm_threads.ts";

/** Kernel name of the forward pass. */
export const WASM_GELU = "NovalabWasmGelu";
/** Kernel name of the backward pass `[x, dy] → dy·gelu'(x)`. */
export const WASM_GELU_GRAD = "NovalabWasmGeluGrad";

const ERF_P = 0.3275911;
const ERF_A = [0.254829592, -0.284496736, 1.421413741, -1.453152027, 1.061405429];
const EXP_POLY = [
  1.9875691500e-4,
  1.3981999507e-3,
  8.3334519073e-3,
  4.1665795894e-2,
  1.6666665459e-1,
  5.0000001201e-1,
];
const LN2_HI = 0.693359375, LN2_LO = -2.12194440e-4;
const INV_SQRT2PI = 1 / Math.sqrt(2 * Math.PI);
/** Inputs at or below it give `exp` = 0 (it is float32's smallest normal's logarithm). */
const EXP_LOW = -87.3365447505531;
/** 1.5·2²³: adding it rounds a float below 2²² in magnitude to an integer. */
const ROUNDING_MAGIC = 12582912;

/**
 * Emits `exp` of the v128 in `x` (clamped to float32's normal range, in place)
 * into `out`, 0 at or below the range; `n` and `r` are v128 scratch locals.
 * Relative error ≈ 1 ulp.
 */
export function emitExp(f: FunctionBuilder, x: Local, out: Local, n: Local, r: Local): void {
  // pmin/pmax: one instruction each on x86 (min/max's NaN and ±0 rules cost several); a NaN
  // input still comes out NaN.
  f.get(x).f32x4(88).simd("f32x4.pmin").f32x4(EXP_LOW).simd("f32x4.pmax").set(x);
  // j = x·log2(e) + 1.5·2²³ rounds to the nearest integer n in its low mantissa bits: n = j − 1.5·2²³,
  // and j's bits << 23 are n's (the magic's own bits shift out), so 2ⁿ = (j << 23) + bits(1.0).
  f.get(x).f32x4(Math.LOG2E).simd("f32x4.mul").f32x4(ROUNDING_MAGIC).simd("f32x4.add").set(out);
  f.get(out).f32x4(ROUNDING_MAGIC).simd("f32x4.sub").set(n);
  f.get(x).get(n).f32x4(LN2_HI).simd("f32x4.mul").simd("f32x4.sub");
  f.get(n).f32x4(LN2_LO).simd("f32x4.mul").simd("f32x4.sub").set(r);
  f.f32x4(EXP_POLY[0]!);
  for (const c of EXP_POLY.slice(1)) f.get(r).simd("f32x4.mul").f32x4(c).simd("f32x4.add");
  f.get(r).get(r).simd("f32x4.mul").simd("f32x4.mul").get(r).simd("f32x4.add").f32x4(1)
    .simd("f32x4.add");
  f.get(out).i32(23).simd("i32x4.shl").f32x4(1).simd("i32x4.add").simd("f32x4.mul");
  // At and below the range exp is flushed to 0 instead of subnormals (a softmax's −1e9 mask
  // gives probability 0, as tfjs's softmax does).
  f.get(x).f32x4(EXP_LOW).simd("f32x4.ne").simd("v128.and").set(out);
}

/**
 * Emits, for the v128 `x`: `phi = 0.5·(1 + erf(x/√2))` and `e = exp(−x²/2)`.
 * Scratch locals `t`, `n`, `r` (v128).
 */
function emitErfParts(
  f: FunctionBuilder,
  x: Local,
  [phi, e, t, n, r]: Local[],
): void {
  // e = exp(−x²/2), t = 1/(1 + p·|x|/√2)
  f.get(x).get(x).simd("f32x4.mul").f32x4(-0.5).simd("f32x4.mul").set(t);
  emitExp(f, t!, e!, n!, r!);
  f.f32x4(1).get(x).simd("f32x4.abs").f32x4(ERF_P * Math.SQRT1_2).simd("f32x4.mul")
    .f32x4(1).simd("f32x4.add").simd("f32x4.div").set(t!);
  // |erf| = 1 − t·(a1 + t·(a2 + …))·e, then the sign of x.
  f.f32x4(ERF_A[4]!);
  for (const a of [ERF_A[3]!, ERF_A[2]!, ERF_A[1]!, ERF_A[0]!]) {
    f.get(t!).simd("f32x4.mul").f32x4(a).simd("f32x4.add");
  }
  f.get(t!).simd("f32x4.mul").get(e!).simd("f32x4.mul").set(r!);
  f.f32x4(1).get(r!).simd("f32x4.sub");
  f.get(x).f32x4(-0).simd("v128.and").simd("v128.or");
  f.f32x4(1).simd("f32x4.add").f32x4(0.5).simd("f32x4.mul").set(phi!);
}

function geluFunction(grad: boolean): FunctionBuilder {
  const f = new FunctionBuilder(Array(grad ? 4 : 3).fill("i32"));
  const [x, a, b, n] = grad
    ? [0, 1, 2, 3].map((i) => f.param(i))
    : [f.param(0), f.param(1), f.param(1), f.param(2)];
  const i = f.local("i32"), v = f.local("v128");
  const parts = [0, 1, 2, 3, 4].map(() => f.local("v128"));
  const [phi, e] = parts as [Local, Local];
  f.for(i, () => f.i32(0), () => f.get(n!).i32(4).op("i32.mul"), 16, () => {
    f.get(x!).get(i).op("i32.add").loadV().set(v);
    emitErfParts(f, v, parts);
    if (grad) {
      // dx = dy·(phi + x·e/√(2π))
      f.get(b!).get(i).op("i32.add");
      f.get(a!).get(i).op("i32.add").loadV();
      f.get(phi).get(v).get(e).simd("f32x4.mul").f32x4(INV_SQRT2PI).simd("f32x4.mul")
        .simd("f32x4.add").simd("f32x4.mul").storeV();
    } else {
      f.get(a!).get(i).op("i32.add").get(v).get(phi).simd("f32x4.mul").storeV();
    }
  });
  return f;
}

/** Adds `gelu` and `gelu_grad` to `m` (see the module notes). */
export function addGeluKernels(m: ModuleBuilder): void {
  m.add(geluFunction(false), "gelu");
  m.add(geluFunction(true), "gelu_grad");
}

function erfScalar(u: number): number {
  const t = 1 / (1 + ERF_P * Math.abs(u));
  let p = ERF_A[4]!;
  for (const a of [ERF_A[3]!, ERF_A[2]!, ERF_A[1]!, ERF_A[0]!]) p = p * t + a;
  const y = 1 - p * t * Math.exp(-u * u);
  return u < 0 ? -y : y;
}

/** Floats below which GELU runs on one thread (waking a helper costs microseconds). */
const MIN_SPLIT_FLOATS = 1 << 15;

/**
 * `fn(...addresses, n)` over `n` floats (a multiple of 4) at the byte
 * `addresses`, cut into element ranges over the helper threads when there are
 * any (`kernels/wasm_threads.ts`).
 */
function overElements(
  k: WasmKernels,
  fn: "gelu" | "gelu_grad",
  addresses: number[],
  n: number,
): void {
  if (!k.threads || n < MIN_SPLIT_FLOATS) return k.fns[fn]!(...addresses, n);
  k.threads.parallel(fn, (threads) =>
    cutRanges(n, threads, 4).map(([start, count]) => [
      ...addresses.map((at) => at + 4 * start),
      count,
    ]));
}

/** Runs the vector part in WASM and the last `size mod 4` elements in JavaScript. */
function elementwise(
  size: number,
  vector: (n: number) => void,
  scalar: (i: number) => void,
): void {
  const body = size - (size % 4);
  if (body > 0) vector(body);
  for (let i = body; i < size; i++) scalar(i);
}

const forwardKernel: WasmKernelSpec = {
  name: WASM_GELU,
  run({ x }, _attrs, k) {
    requireFloat32(x!, "x");
    const out = k.backend.makeOutput(x!.shape, "float32");
    const size = x!.shape.reduce((p, d) => p * d, 1);
    const [xa, ya] = [k.address(x!), k.address(out)];
    elementwise(size, (n) => overElements(k, "gelu", [xa, ya], n), (i) => {
      const [xv, yv] = [k.view(x!), k.view(out)];
      yv[i] = 0.5 * xv[i]! * (1 + erfScalar(xv[i]! * Math.SQRT1_2));
    });
    return out;
  },
};

const backwardKernel: WasmKernelSpec = {
  name: WASM_GELU_GRAD,
  run({ x, dy }, _attrs, k) {
    const out = k.backend.makeOutput(x!.shape, "float32");
    const size = x!.shape.reduce((p, d) => p * d, 1);
    const [xa, ga, da] = [k.address(x!), k.address(dy!), k.address(out)];
    elementwise(size, (n) => overElements(k, "gelu_grad", [xa, ga, da], n), (i) => {
      const [xv, gv, dv] = [k.view(x!), k.view(dy!), k.view(out)];
      const u = xv[i]!;
      const phi = 0.5 * (1 + erfScalar(u * Math.SQRT1_2));
      dv[i] = gv[i]! * (phi + u * Math.exp(-0.5 * u * u) * INV_SQRT2PI);
    });
    return out;
  },
};

const differentiable = tf.customGrad((...args: Array<Tensor | GradSaveFunc>) => {
  const [x, save] = args as [Tensor, GradSaveFunc];
  save([x]);
  return {
    value: runWasmKernel(WASM_GELU, { x }) as Tensor,
    gradFunc: (dy: Tensor, saved: Tensor[]) => [
      runWasmKernel(WASM_GELU_GRAD, { x: saved[0]!, dy }) as Tensor,
    ],
  };
}) as unknown as (x: Tensor) => Tensor;

/**
 * GELU (exact form) of float32 `x` on the wasm backend, differentiable
 * (callers check `wasmKernelsActive()`, `kernels/wasm_runtime.ts`).
 */
export function wasmGelu(x: Tensor): Tensor {
  registerWasmKernels([forwardKernel, backwardKernel]);
  return differentiable(x);
}
