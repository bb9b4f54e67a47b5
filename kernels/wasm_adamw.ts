/**
 * AdamW's update of one parameter on tfjs's WASM backend as one generated
 * SIMD pass that rewrites the parameter and its moments in place, where the
 * reference composition (`core/adamw_moments.ts`) issues ~13 tfjs kernels per
 * parameter (and ~20 with a step guard): ~750 kernel calls per NOVA step. The
 * pass performs the composition's float32 operations in the same order, so
 * it writes the same bits (`kernels/wasm_adamw_test.ts`):
 *
 *   g ← (g·s₁)·s₂;  m ← m·β1 + g·(1−β1);  v ← v·β2 + (g·g)·(1−β2);
 *   p ← p·(1 − lr·wd) − (m / (√v / √(1−β2ᵗ) + ε))·(lr / (1−β1ᵗ))
 *
 * with `s₁` gradient clipping's factor and `s₂` a step report's (1 when
 * absent). A step report whose gate is 0 leaves everything as it was (read on
 * the host: WASM tensors are in memory). Tensors that share their data with
 * another (a clone taken for a checkpoint) are first given their own copy, so
 * nothing else changes with them. The last `n mod 4` elements run the same
 * operations in JavaScript with float32 rounding after each.
 *
 * Export of the generated module: `adamw(p, g, m, v, n, scalars)`, `n` a
 * multiple of 4, `scalars` the address of {@linkcode ADAMW_SCALARS} floats.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor, Variable } from "../core/tensor.ts";
import { FunctionBuilder, type Local, type ModuleBuilder } from "./wasm_asm.ts";
import { type WasmKernels, wasmKernels } from "./wasm_runtime.ts";
import { cutRanges } from "./wasm_threads.ts";
import type { AdamWStep } from "./adamw_state.ts";

/** Scalars of one update: s₁, s₂, β1, 1−β1, β2, 1−β2, √(1−β2ᵗ), ε, 1 − lr·wd, lr/(1−β1ᵗ). */
export const ADAMW_SCALARS = 10;

/** Elements below which an update runs on one thread. */
const MIN_SPLIT = 1 << 15;

/** Adds `adamw` to `m` (see the module notes). */
export function addAdamWKernel(m: ModuleBuilder): void {
  const f = new FunctionBuilder(Array(6).fill("i32"));
  const [p, g, mm, vv, n, s] = [0, 1, 2, 3, 4, 5].map((i) => f.param(i));
  const i = f.local("i32");
  const k: Local[] = [...Array(ADAMW_SCALARS)].map(() => f.local("v128"));
  const [s1, s2, b1, omb1, b2, omb2, bc2, eps, decay, step] = k as [
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
    Local,
  ];
  const [gv, mv, vv2] = [f.local("v128"), f.local("v128"), f.local("v128")];
  k.forEach((local, j) => f.get(s).i32(4 * j).op("i32.add").loadSplat().set(local));
  const at = (base: Local) => f.get(base).get(i).op("i32.add");
  f.for(i, () => f.i32(0), () => f.get(n).i32(4).op("i32.mul"), 16, () => {
    at(g).loadV().get(s1).simd("f32x4.mul").get(s2).simd("f32x4.mul").set(gv);
    at(mm).loadV().get(b1).simd("f32x4.mul").get(gv).get(omb1).simd("f32x4.mul")
      .simd("f32x4.add").set(mv);
    at(vv).loadV().get(b2).simd("f32x4.mul").get(gv).get(gv).simd("f32x4.mul").get(omb2)
      .simd("f32x4.mul").simd("f32x4.add").set(vv2);
    at(mm).get(mv).storeV();
    at(vv).get(vv2).storeV();
    at(p);
    at(p).loadV().get(decay).simd("f32x4.mul");
    f.get(mv).get(vv2).simd("f32x4.sqrt").get(bc2).simd("f32x4.div").get(eps)
      .simd("f32x4.add").simd("f32x4.div").get(step).simd("f32x4.mul");
    f.simd("f32x4.sub").storeV();
  });
  m.add(f, "adamw");
}

/** Makes `x` the sole owner of its data (a copy when something shares it). */
function ownData(k: WasmKernels, x: Variable): void {
  if (k.backend.refCount(x.dataId) <= 1) return;
  const copy = tf.mul(x, 1); // exact: new data with the same bits (NaN stays NaN)
  x.assign(copy);
  copy.dispose();
}

/** One element in JavaScript, rounding to float32 after each operation as the kernel does. */
function scalarUpdate(sc: Float32Array, p: number, g: number, m: number, v: number): number[] {
  const r = Math.fround;
  const [s1, s2, b1, omb1, b2, omb2, bc2, eps, decay, step] = sc as unknown as number[];
  const gg = r(r(g * s1!) * s2!);
  const mn = r(r(m * b1!) + r(gg * omb1!));
  const vn = r(r(v * b2!) + r(r(gg * gg) * omb2!));
  const denom = r(r(r(Math.sqrt(vn)) / bc2!) + eps!);
  const pn = r(r(p * decay!) - r(r(mn / denom) * step!));
  return [pn, mn, vn];
}

/**
 * Applies one AdamW step to `param` with gradient `grad` and moments `m`,
 * `v` in place on the active wasm backend (callers check
 * `wasmKernelsActive()`; every tensor float32 of the parameter's size).
 * `s.weightDecay` is this parameter's (0 when it takes none); `s.scalars` is
 * not used.
 */
export function wasmAdamW(
  param: Variable,
  grad: Tensor,
  m: Variable,
  v: Variable,
  s: AdamWStep,
): void {
  const k = wasmKernels();
  const read = (t: Tensor | undefined, i: number) => t ? k.view(t)[i]! : 1;
  if (s.guard && read(s.guard, 1) === 0) return; // a non-finite step: nothing changes
  for (const x of [param, m, v]) ownData(k, x);
  const sc = k.scratch(ADAMW_SCALARS);
  const scalars = [
    read(s.gradScale, 0),
    read(s.guard, 0),
    s.beta1,
    1 - s.beta1,
    s.beta2,
    1 - s.beta2,
    s.bc2Sqrt,
    s.eps,
    1 - s.lr * s.weightDecay,
    s.lr / s.bc1,
  ];
  k.floats(sc, ADAMW_SCALARS).set(scalars);
  const size = param.size, body = size - (size % 4);
  const addresses = [param, grad, m, v].map((t) => k.address(t));
  if (k.threads && body >= MIN_SPLIT) {
    k.threads.parallel("adamw", (threads) =>
      cutRanges(body, threads, 4).map(([start, count]) => [
        ...addresses.map((a) => a + 4 * start),
        count,
        sc,
      ]));
  } else if (body > 0) {
    k.fns.adamw!(...addresses, body, sc);
  }
  if (body === size) return;
  const rounded = k.floats(sc, ADAMW_SCALARS).slice();
  const [pv, gv, mv, vv] = [param, grad, m, v].map((t) => k.view(t));
  for (let i = body; i < size; i++) {
    [pv[i], mv[i], vv[i]] = scalarUpdate(rounded, pv[i]!, gv[i]!, mv[i]!, vv[i]!);
  }
}
