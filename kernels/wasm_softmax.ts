/**
 * Row softmax on tfjs's WASM backend as one generated SIMD kernel, in place:
 * `x ← softmax(x + b)` over the last axis, with an optional bias row shared by
 * a group of consecutive rows (the attention's key-padding bias: one row of
 * `T` per sample, shared by its `H·T` score rows). One pass adds the bias and
 * finds the row maximum, one writes `exp(x − max)` and sums it, one scales by
 * the reciprocal of the sum. `exp` is the range-reduced polynomial of
 * `kernels/wasm_gelu.ts`. tfjs-wasm's `Softmax` (scalar `exp`) took ≈ 0.9 ms
 * per `[256, 4, 17, 17]` call, four per NOVA step; this kernel writes the
 * probabilities from the score product's own kernel call.
 *
 * Export: `softmax_rows(x, bias, rows, t, group, first)` — `bias` 0 for none;
 * row `r` (of `rows`, counted from `first` for the bias) adds bias row
 * `⌊(first + r) / group⌋`.
 *
 * @module
 */
import { FunctionBuilder, type Local, type ModuleBuilder } from "./wasm_asm.ts";
import { emitExp } from "./wasm_gelu.ts";
import { forColumns, type Lanes } from "./wasm_lanes.ts";
import type { WasmKernels } from "./wasm_runtime.ts";
import { cutRanges } from "./wasm_threads.ts";

/** v128 scratch locals of the `exp` emitter. */
interface ExpLocals {
  x: Local;
  e: Local;
  n: Local;
  r: Local;
}

/**
 * With `x − max` on the stack: pushes `exp(x − max)` of this width (the scalar
 * tail goes through lane 0 of the vector `exp`).
 */
function pushExp(f: FunctionBuilder, L: Lanes, v: ExpLocals): void {
  if (L.w === 1) f.simd("f32x4.splat");
  f.set(v.x);
  emitExp(f, v.x, v.e, v.n, v.r);
  f.get(v.e);
  if (L.w === 1) f.lane(0);
}

function softmaxRows(): FunctionBuilder {
  const f = new FunctionBuilder(Array(6).fill("i32"));
  const [x, bias, rows, t, group, first] = [...Array(6).keys()].map((i) => f.param(i));
  const r = f.local("i32"), rx = f.local("i32"), rb = f.local("i32");
  const mx = f.local("f32"), inv = f.local("f32");
  const v: ExpLocals = {
    x: f.local("v128"),
    e: f.local("v128"),
    n: f.local("v128"),
    r: f.local("v128"),
  };
  const at = (base: Local, jb: Local) => f.get(base).get(jb).op("i32.add");
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.get(x).get(r).get(t).op("i32.mul").i32(4).op("i32.mul").op("i32.add").set(rx);
    f.get(bias).get(first).get(r).op("i32.add").get(group).op("i32.div_s").get(t).op("i32.mul")
      .i32(4).op("i32.mul").op("i32.add").set(rb);
    // Pass 1: x += bias (when there is one), running maximum.
    const [m4, m1] = forColumns(f, t, (L) => {
      const m = f.local(L.type);
      L.f.f32(-Infinity);
      if (L.w === 4) f.simd("f32x4.splat");
      f.set(m);
      return m;
    }, (L, jb, m) => {
      f.get(bias).if(() => {
        at(rx, jb);
        at(rx, jb);
        L.load();
        at(rb, jb);
        L.load().op("add").store();
      });
      at(rx, jb);
      L.load().f.get(m);
      // pmax (one x86 instruction; `max`'s NaN rules cost several): a NaN logit is skipped
      // here and makes its row NaN through exp(NaN − max).
      if (L.w === 4) f.simd("f32x4.pmax").set(m);
      else L.op("max").f.set(m);
    });
    f.get(m4).lane(0).get(m4).lane(1).op("f32.max").get(m4).lane(2).op("f32.max")
      .get(m4).lane(3).op("f32.max").get(m1).op("f32.max").set(mx);
    // Pass 2: x = exp(x − max), running sum.
    const [s4, s1] = forColumns(f, t, (L) => {
      const s = f.local(L.type);
      L.zero().f.set(s);
      return s;
    }, (L, jb, s) => {
      at(rx, jb);
      at(rx, jb);
      L.load().splat(mx).op("sub");
      pushExp(f, L, v);
      store(L, s);
    });
    f.f32(1).get(s4).lane(0).get(s4).lane(1).op("f32.add").get(s4).lane(2).op("f32.add")
      .get(s4).lane(3).op("f32.add").get(s1).op("f32.add").op("f32.div").set(inv);
    // Pass 3: x /= Σ.
    forColumns(f, t, () => 0, (L, jb) => {
      at(rx, jb);
      at(rx, jb);
      L.load().splat(inv).op("mul").store();
    });
  });
  return f;

  /** Stores the value on the stack (address under it) and adds it to `s`. */
  function store(L: Lanes, s: Local): void {
    const keep = L.w === 4 ? v.e : f.local("f32");
    if (L.w === 1) f.tee(keep);
    L.store();
    if (L.w === 4) f.get(v.e);
    else f.get(keep);
    f.get(s);
    L.op("add").f.set(s);
  }
}

/** Adds `softmax_rows` to `m` (see the module notes). */
export function addSoftmaxKernel(m: ModuleBuilder): void {
  m.add(softmaxRows(), "softmax_rows");
}

/** Floats below which the softmax runs on one thread. */
const MIN_SPLIT_FLOATS = 1 << 15;

/**
 * `x ← softmax(x + bias row ⌊r / group⌋)` over `rows` rows of `t` floats at byte
 * address `x` (`bias` 0: none), cut into row ranges over the helper threads.
 */
export function softmaxRowsInPlace(
  k: WasmKernels,
  at: { x: number; bias: number; rows: number; t: number; group: number },
): void {
  const { x, bias, rows, t } = at;
  const group = Math.max(1, at.group); // the bias row index divides by it, bias or not
  if (!k.threads || rows * t < MIN_SPLIT_FLOATS) {
    return k.fns.softmax_rows!(x, bias, rows, t, group, 0);
  }
  k.threads.parallel(
    "softmax_rows",
    (threads) =>
      cutRanges(rows, threads, 1).map((
        [start, count],
      ) => [x + 4 * start * t, bias, count, t, group, start]),
  );
}
