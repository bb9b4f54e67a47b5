/**
 * The fused Epps–Pulley statistic (`kernels/epps_pulley.ts`) on tfjs's WASM
 * backend: the same two kernels as on WebGPU (`NovalabEppsPulley`,
 * `NovalabEppsPulleyGrad`), the same outputs (the statistic `[V, M]` and the
 * backward coefficients `[V, 2T, M]`; `du` `[V, N, M]`), generated as SIMD
 * loops over four slices at a time. tfjs-wasm's `Sin` and `Cos` are scalar
 * library calls: NOVA's SIGReg spent ~128 of its ~240 ms WASM step in them.
 *
 * Sines and cosines are the WGSL kernels' `nlSinCos` (Cody–Waite reduction by
 * π/2, Cephes' single-precision minimax polynomials, `epps_pulley_programs.ts`)
 * on four lanes, the quadrant chosen by bit selects and sign flips. Slices
 * run in blocks of four; when M is not a multiple of four the last block is
 * the last four slices, recomputed (every output is written with the value it
 * already has). Fewer than four slices take the op composition.
 *
 * Exports of the generated module: `ep_forward(u, coef, stat, t, w, phi, V, N,
 * M, T, c0, c1)` and `ep_grad(u, coef, dy, du, t, V, N, M, T, c0, c1)` (byte
 * addresses; the nodes `t`, weights `w` and targets `phi = e^{−t²/2}` as
 * float arrays; slices `[c0, c1)`, `c0` a multiple of four, `c1` one or M), so
 * that threads can take ranges of slices (`kernels/epps_pulley.ts`).
 *
 * @module
 */
import type { FunctionBuilder, Local, ModuleBuilder } from "./wasm_asm.ts";
import { FunctionBuilder as Builder } from "./wasm_asm.ts";

/** 2/π and π/2 in three parts (Cephes' single-precision split). */
const TWO_OVER_PI = 0.6366197723675814;
const PIO2 = [1.5703125, 4.837512969970703125e-4, 7.54978995489188216e-8];
const SIN_POLY = [-1.9515295891e-4, 8.3321608736e-3, -1.6666654611e-1];
const COS_POLY = [2.443315711809948e-5, -1.388731625493765e-3, 4.166664568298827e-2];

/** The v128 locals {@linkcode emitSinCos} uses. */
export interface SinCosLocals {
  /** Argument (read). */
  x: Local;
  /** cos x (written). */
  cos: Local;
  /** sin x (written). */
  sin: Local;
  /** Scratch: the quadrant count k, the reduced argument and its square. */
  k: Local;
  /** Scratch. */
  r: Local;
  /** Scratch. */
  z: Local;
}

/** Emits `cos x` and `sin x` of four lanes (see the module notes). */
export function emitSinCos(f: FunctionBuilder, l: SinCosLocals): void {
  f.get(l.x).f32x4(TWO_OVER_PI).simd("f32x4.mul").simd("f32x4.nearest").set(l.k);
  f.get(l.x);
  for (const part of PIO2) f.get(l.k).f32x4(part).simd("f32x4.mul").simd("f32x4.sub");
  f.set(l.r);
  f.get(l.r).get(l.r).simd("f32x4.mul").set(l.z);
  // s = r + r·z·(s0 + z·(s1 + z·s2))
  f.get(l.r).get(l.r).get(l.z).simd("f32x4.mul");
  f.get(l.z).f32x4(SIN_POLY[0]!).simd("f32x4.mul").f32x4(SIN_POLY[1]!).simd("f32x4.add");
  f.get(l.z).simd("f32x4.mul").f32x4(SIN_POLY[2]!).simd("f32x4.add");
  f.simd("f32x4.mul").simd("f32x4.add").set(l.sin);
  // c = 1 − z/2 + z²·(c0 + z·(c1 + z·c2))
  f.f32x4(1).f32x4(0.5).get(l.z).simd("f32x4.mul").simd("f32x4.sub");
  f.get(l.z).get(l.z).simd("f32x4.mul");
  f.get(l.z).f32x4(COS_POLY[0]!).simd("f32x4.mul").f32x4(COS_POLY[1]!).simd("f32x4.add");
  f.get(l.z).simd("f32x4.mul").f32x4(COS_POLY[2]!).simd("f32x4.add");
  f.simd("f32x4.mul").simd("f32x4.add").set(l.cos);
  // Quadrant q = k mod 4: odd q swaps cos and sin; cos is negated for q ∈ {1, 2}, sin for {2, 3}.
  f.get(l.k).simd("i32x4.trunc_sat_f32x4_s").set(l.k);
  f.get(l.k).i32(1).simd("i32x4.splat").simd("v128.and").i32(1).simd("i32x4.splat")
    .simd("i32x4.eq").set(l.z); // swap mask
  f.get(l.sin).get(l.cos).get(l.z).simd("v128.bitselect"); // cos' (on the stack)
  f.get(l.cos).get(l.sin).get(l.z).simd("v128.bitselect").set(l.sin);
  f.set(l.cos);
  f.get(l.cos).get(l.k).i32(1).simd("i32x4.splat").simd("i32x4.add").i32(2)
    .simd("i32x4.splat").simd("v128.and").i32(30).simd("i32x4.shl").simd("v128.xor").set(l.cos);
  f.get(l.sin).get(l.k).i32(2).simd("i32x4.splat").simd("v128.and").i32(30).simd("i32x4.shl")
    .simd("v128.xor").set(l.sin);
}

/** `cc = c + 4 ≤ M ? c : M − 4`: the block's first slice (the last block overlaps). */
function blockStart(f: FunctionBuilder, c: Local, m: Local, cc: Local): void {
  f.get(c).get(m).i32(4).op("i32.sub").get(c).get(m).i32(4).op("i32.sub").op("i32.le_s");
  f.op("select").set(cc);
}

function sinCosLocals(f: FunctionBuilder): SinCosLocals {
  const v = () => f.local("v128");
  return { x: v(), cos: v(), sin: v(), k: v(), r: v(), z: v() };
}

/** `ep_forward`: per view and block of slices, per node, the means over samples. */
function forward(): FunctionBuilder {
  const f = new Builder(Array(12).fill("i32"));
  const [u, coef, stat, t, w, phi, V, N, M, T, c0, c1] = [...Array(12).keys()].map((i) =>
    f.param(i)
  );
  const [v, c, cc, j, n, p, stride] = [...Array(7)].map(() => f.local("i32"));
  const [tj, accC, accS, mc, ms, st, nf] = [...Array(7)].map(() => f.local("v128"));
  const sc = sinCosLocals(f);
  const at = (row: () => void) => {
    // byte address of coef[(v·2T + row)·M + cc]
    f.get(coef).get(v).get(T).i32(2).op("i32.mul").op("i32.mul");
    row();
    f.op("i32.add").get(M).op("i32.mul").get(cc).op("i32.add").i32(4).op("i32.mul")
      .op("i32.add");
  };
  f.get(N).op("f32.convert_i32_s").simd("f32x4.splat").set(nf);
  f.get(M).i32(4).op("i32.mul").set(stride);
  f.for(v, () => f.i32(0), () => f.get(V), 1, () => {
    f.for(c, () => f.get(c0), () => f.get(c1), 4, () => {
      blockStart(f, c, M, cc);
      f.f32x4(0).set(st);
      f.for(j, () => f.i32(0), () => f.get(T), 1, () => {
        f.get(t).get(j).i32(4).op("i32.mul").op("i32.add").loadSplat().set(tj);
        f.f32x4(0).set(accC);
        f.f32x4(0).set(accS);
        f.get(u).get(v).get(N).op("i32.mul").get(M).op("i32.mul").get(cc).op("i32.add")
          .i32(4).op("i32.mul").op("i32.add").set(p);
        f.for(n, () => f.i32(0), () => f.get(N), 1, () => {
          f.get(p).loadV().get(tj).simd("f32x4.mul").set(sc.x);
          emitSinCos(f, sc);
          f.get(accC).get(sc.cos).simd("f32x4.add").set(accC);
          f.get(accS).get(sc.sin).simd("f32x4.add").set(accS);
          f.get(p).get(stride).op("i32.add").set(p);
        });
        f.get(accC).get(nf).simd("f32x4.div").get(phi).get(j).i32(4).op("i32.mul")
          .op("i32.add").loadSplat().simd("f32x4.sub").set(mc);
        f.get(accS).get(nf).simd("f32x4.div").set(ms);
        // st += w·(c² + s²); coefficients 2·w·t·S and 2·w·t·(C − φ)
        f.get(st).get(w).get(j).i32(4).op("i32.mul").op("i32.add").loadSplat();
        f.get(mc).get(mc).simd("f32x4.mul").get(ms).get(ms).simd("f32x4.mul").simd("f32x4.add");
        f.simd("f32x4.mul").simd("f32x4.add").set(st);
        const k2 = () =>
          f.f32x4(2).get(w).get(j).i32(4).op("i32.mul").op("i32.add").loadSplat()
            .simd("f32x4.mul").get(tj).simd("f32x4.mul");
        at(() => f.get(j).i32(2).op("i32.mul"));
        k2();
        f.get(ms).simd("f32x4.mul").storeV();
        at(() => f.get(j).i32(2).op("i32.mul").i32(1).op("i32.add"));
        k2();
        f.get(mc).simd("f32x4.mul").storeV();
      });
      f.get(stat).get(v).get(M).op("i32.mul").get(cc).op("i32.add").i32(4).op("i32.mul")
        .op("i32.add");
      f.get(st).get(nf).simd("f32x4.mul").storeV();
    });
  });
  return f;
}

/** `ep_grad`: `du = dy · Σ_j (a_j cos(t_j u) − b_j sin(t_j u))`, four slices at a time. */
function gradient(): FunctionBuilder {
  const f = new Builder(Array(11).fill("i32"));
  const [u, coef, dy, du, t, V, N, M, T, c0, c1] = [...Array(11).keys()].map((i) => f.param(i));
  const [v, c, cc, j, n, off, row, rowStride] = [...Array(8)].map(() => f.local("i32"));
  const [g, x] = [f.local("v128"), f.local("v128")];
  const sc = sinCosLocals(f);
  f.get(M).i32(8).op("i32.mul").set(rowStride); // two coefficient rows, bytes
  f.for(v, () => f.i32(0), () => f.get(V), 1, () => {
    f.for(c, () => f.get(c0), () => f.get(c1), 4, () => {
      blockStart(f, c, M, cc);
      f.for(n, () => f.i32(0), () => f.get(N), 1, () => {
        f.get(v).get(N).op("i32.mul").get(n).op("i32.add").get(M).op("i32.mul").get(cc)
          .op("i32.add").i32(4).op("i32.mul").set(off);
        f.get(u).get(off).op("i32.add").loadV().set(x);
        f.f32x4(0).set(g);
        // row: byte address of coef[(v·2T)·M + cc], advanced two rows per node
        f.get(coef).get(v).get(T).i32(2).op("i32.mul").op("i32.mul").get(M).op("i32.mul")
          .get(cc).op("i32.add").i32(4).op("i32.mul").op("i32.add").set(row);
        f.for(j, () => f.i32(0), () => f.get(T), 1, () => {
          f.get(t).get(j).i32(4).op("i32.mul").op("i32.add").loadSplat().get(x)
            .simd("f32x4.mul").set(sc.x);
          emitSinCos(f, sc);
          f.get(g).get(row).loadV().get(sc.cos).simd("f32x4.mul").simd("f32x4.add");
          f.get(row).get(M).i32(4).op("i32.mul").op("i32.add").loadV().get(sc.sin)
            .simd("f32x4.mul").simd("f32x4.sub").set(g);
          f.get(row).get(rowStride).op("i32.add").set(row);
        });
        f.get(du).get(off).op("i32.add");
        f.get(dy).get(v).get(M).op("i32.mul").get(cc).op("i32.add").i32(4).op("i32.mul")
          .op("i32.add").loadV().get(g).simd("f32x4.mul").storeV();
      });
    });
  });
  return f;
}

/** Adds `ep_forward` and `ep_grad` to `m` (see the module notes). */
export function addEppsPulleyKernels(m: ModuleBuilder): void {
  m.add(forward(), "ep_forward");
  m.add(gradient(), "ep_grad");
}
