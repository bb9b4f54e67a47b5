/**
 * Width-generic emitters for the generated row kernels (`kernels/wasm_rows.ts`):
 * one loop body written once runs four lanes at a time (v128) and then over
 * the scalar tail (f32), so rows of any width work.
 *
 * @module
 */
import type { FunctionBuilder, Local } from "./wasm_asm.ts";

/** Lanes per step: four (v128) or one (f32, the tail). */
export type Width = 4 | 1;

/** Width-generic instruction helpers: four lanes (v128) or one (f32). */
export class Lanes {
  /**
   * Helpers emitting into `f`, `w` lanes per step.
   *
   * @param f The function being emitted.
   * @param w Lanes per step.
   */
  constructor(readonly f: FunctionBuilder, readonly w: Width) {}
  /** Loads a value of this width from the address on the stack. */
  load(off = 0): this {
    if (this.w === 4) this.f.loadV(off);
    else this.f.loadF32(off);
    return this;
  }
  /** Stores the value on the stack at the address under it. */
  store(off = 0): this {
    if (this.w === 4) this.f.storeV(off);
    else this.f.storeF32(off);
    return this;
  }
  /** A lane-wise arithmetic instruction. */
  op(name: "add" | "sub" | "mul" | "max"): this {
    if (this.w === 4) this.f.simd(`f32x4.${name}`);
    else this.f.op(`f32.${name}`);
    return this;
  }
  /** Pushes zero. */
  zero(): this {
    if (this.w === 4) this.f.f32x4(0);
    else this.f.f32(0);
    return this;
  }
  /** Pushes the scalar local `s` in every lane. */
  splat(s: Local): this {
    this.f.get(s);
    if (this.w === 4) this.f.simd("f32x4.splat");
    return this;
  }
  /** Replaces the value on the stack by itself where `m` (local) > 0, else 0. */
  maskPositive(m: Local): this {
    if (this.w === 4) this.f.get(m).f32x4(0).simd("f32x4.gt").simd("v128.and");
    else this.f.f32(0).get(m).f32(0).op("f32.gt").op("select");
    return this;
  }
  /** The type of a local holding one value of this width. */
  get type(): "v128" | "f32" {
    return this.w === 4 ? "v128" : "f32";
  }
}

/**
 * Emits `for (j = 0; j < n; j++)` as a four-lane loop and a scalar tail; `body`
 * gets the lanes and `jb = 4·j` (the byte offset of column j) and per-width locals
 * from `locals(lanes)`.
 */
export function forColumns<T>(
  f: FunctionBuilder,
  n: Local,
  locals: (L: Lanes) => T,
  body: (L: Lanes, jb: Local, v: T) => void,
): [T, T] {
  const j = f.local("i32"), jb = f.local("i32"), nv = f.local("i32");
  const L4 = new Lanes(f, 4), L1 = new Lanes(f, 1);
  const v4 = locals(L4), v1 = locals(L1);
  f.get(n).get(n).i32(4).op("i32.rem_s").op("i32.sub").set(nv);
  f.for(j, () => f.i32(0), () => f.get(nv), 4, () => {
    f.get(j).i32(4).op("i32.mul").set(jb);
    body(L4, jb, v4);
  });
  f.for(j, () => f.get(nv), () => f.get(n), 1, () => {
    f.get(j).i32(4).op("i32.mul").set(jb);
    body(L1, jb, v1);
  });
  return [v4, v1];
}

/** Pushes the f32 sum of a v128 local's lanes plus an f32 local. */
export function total(f: FunctionBuilder, v: Local, s: Local): void {
  f.get(v).lane(0).get(v).lane(1).op("f32.add").get(v).lane(2).op("f32.add").get(v).lane(3)
    .op("f32.add").get(s).op("f32.add");
}

/** Sets `n` floats at `at` to zero. */
export function zeroFloats(f: FunctionBuilder, at: Local, n: Local): void {
  forColumns(f, n, () => 0, (L, jb) => {
    f.get(at).get(jb).op("i32.add");
    L.zero().store();
  });
}

/** `dst[j] += src[j]` for `n` floats. */
export function addFloats(f: FunctionBuilder, dst: Local, src: Local, n: Local): void {
  forColumns(f, n, () => 0, (L, jb) => {
    f.get(dst).get(jb).op("i32.add");
    f.get(dst).get(jb).op("i32.add");
    L.load();
    f.get(src).get(jb).op("i32.add");
    L.load().op("add").store();
  });
}
