/**
 * Generated WebAssembly SIMD row kernels for the WASM backend, the
 * memory-bound companions of the GEMM (`kernels/wasm_gemm.ts`). Every loop over
 * a row runs four lanes at a time with a scalar tail, so any width works.
 * Column sums accumulate in blocks of {@linkcode ROW_BLOCK} rows before adding
 * into the total (float32, error growing with the block count, not the rows).
 * Exports (addresses in bytes, sizes in elements):
 *
 * - `grad_prologue(dy, y, out, rows, cols, sums, blk)`: the bias gradient of a
 *   linear layer, `sums = Σ_rows g` with `g = dy ⊙ (y > 0)` written to `out`
 *   when `y ≠ 0` (a ReLU epilogue), else `g = dy`; `blk`: `cols` floats.
 * - `softmax_grad(p, dp, rows, t)`: `dp ← p ⊙ (dp − Σ_j dp⊙p / Σ_j p)` row by row.
 * - `layer_norm(x, γ, β, y, μ, r, rows, d, eps)`: `y = (x − μ)·r·γ + β`,
 *   `r = 1/√(var + eps)`, keeping μ and r per row.
 * - `layer_norm_grad(x, γ, dy, μ, r, dx, dγ, dβ, rows, d, blk)`: `blk`: 2·`d` floats.
 * - `grad_prologue_parts(dy, y, out, rows, cols, parts)` and
 *   `layer_norm_grad_parts(x, γ, dy, μ, r, dx, parts, rows, d)`: the threaded forms, each
 *   block's column sums left in its own slot of `parts` (`cols`, `2·d` floats per block) for
 *   the caller to add in block order (`kernels/wasm_row_parts.ts`).
 *
 * @module
 */
import { FunctionBuilder, type Local, type ModuleBuilder } from "./wasm_asm.ts";
import { addFloats, forColumns, Lanes, total, type Width, zeroFloats } from "./wasm_lanes.ts";

/** Rows summed into a block accumulator before it is added to a column total. */
export const ROW_BLOCK = 256;

/**
 * Loops over rows in blocks of {@linkcode ROW_BLOCK}: `perBlockStart` before a block,
 * `perRow(r)` for each row, `perBlockEnd` after it.
 */
function rowBlocks(
  f: FunctionBuilder,
  rows: Local,
  perBlockStart: () => void,
  perRow: (r: Local) => void,
  perBlockEnd: () => void,
): void {
  const r0 = f.local("i32"), r = f.local("i32"), end = f.local("i32");
  f.for(r0, () => f.i32(0), () => f.get(rows), ROW_BLOCK, () => {
    f.get(r0).i32(ROW_BLOCK).op("i32.add").set(end);
    f.get(end).get(rows).get(end).get(rows).op("i32.lt_s").op("select").set(end);
    perBlockStart();
    f.for(r, () => f.get(r0), () => f.get(end), 1, () => perRow(r));
    perBlockEnd();
  });
}

/**
 * `grad_prologue`, or with `parts` `grad_prologue_parts(dy, y, out, rows, cols, parts)`: the
 * same rows, but each block's column sums are left in their own `cols` floats at `parts`
 * (block after block) instead of being added into `sums` — the threaded form, whose caller
 * adds the blocks in order (so the totals are those of one thread).
 */
function gradPrologue(parts = false): FunctionBuilder {
  const f = new FunctionBuilder(Array(parts ? 6 : 7).fill("i32"));
  const p = [...Array(parts ? 6 : 7).keys()].map((i) => f.param(i));
  const [dy, y, out, rows, cols] = p as [Local, Local, Local, Local, Local];
  const sums = p[5]!, blk = parts ? f.local("i32") : p[6]!;
  const off = f.local("i32");
  const perWidth = (L: Lanes) => ({ g: f.local(L.type), m: f.local(L.type) });
  if (parts) f.get(p[5]!).get(cols).i32(4).op("i32.mul").op("i32.sub").set(blk);
  else zeroFloats(f, sums, cols);
  rowBlocks(f, rows, () => {
    if (parts) f.get(blk).get(cols).i32(4).op("i32.mul").op("i32.add").set(blk);
    zeroFloats(f, blk, cols);
  }, (r) => {
    f.get(r).get(cols).op("i32.mul").i32(4).op("i32.mul").set(off);
    forColumns(f, cols, perWidth, (L, jb, { g, m }) => {
      f.get(dy).get(off).op("i32.add").get(jb).op("i32.add");
      L.load().f.set(g);
      f.get(y).op("i32.eqz").op("i32.eqz").if(() => {
        f.get(y).get(off).op("i32.add").get(jb).op("i32.add");
        L.load().f.set(m);
        f.get(g);
        L.maskPositive(m).f.set(g);
        f.get(out).get(off).op("i32.add").get(jb).op("i32.add").get(g);
        L.store();
      });
      f.get(blk).get(jb).op("i32.add");
      f.get(blk).get(jb).op("i32.add");
      L.load().f.get(g);
      L.op("add").store();
    });
  }, () => {
    if (!parts) addFloats(f, sums, blk, cols);
  });
  return f;
}

/** Per-width locals: accumulators `a` and `b` (zeroed by the caller) and a temporary `c`. */
function accumulators(f: FunctionBuilder) {
  return (L: Lanes) => ({ a: f.local(L.type), b: f.local(L.type), c: f.local(L.type) });
}

/** Zeroes the `a` and `b` accumulators of both widths. */
function zeroAccumulators(f: FunctionBuilder, both: { a: Local; b: Local }[]): void {
  both.forEach(({ a, b }, i) => {
    for (const l of [a, b]) {
      if (i === 0) f.f32x4(0).set(l);
      else f.f32(0).set(l);
    }
  });
}

function layerNorm(): FunctionBuilder {
  const f = new FunctionBuilder([...Array(8).fill("i32"), "f32"]);
  const [x, gamma, beta, y, mean, rstd, rows, d] = [...Array(8).keys()].map((i) => f.param(i));
  const eps = f.param(8);
  const r = f.local("i32"), rx = f.local("i32"), ry = f.local("i32");
  const mu = f.local("f32"), rs = f.local("f32"), dd = f.local("f32");
  f.get(d).op("f32.convert_i32_s").set(dd);
  const make = accumulators(f);
  const L4 = new Lanes(f, 4), L1 = new Lanes(f, 1);
  const v: Record<Width, { a: Local; b: Local; c: Local }> = { 4: make(L4), 1: make(L1) };
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.get(r).get(d).op("i32.mul").i32(4).op("i32.mul").set(rx);
    f.get(y).get(rx).op("i32.add").set(ry);
    f.get(x).get(rx).op("i32.add").set(rx);
    zeroAccumulators(f, [v[4], v[1]]);
    forColumns(f, d, (L) => v[L.w], (L, jb, { a }) => {
      f.get(rx).get(jb).op("i32.add");
      L.load().f.get(a);
      L.op("add").f.set(a);
    });
    total(f, v[4].a, v[1].a);
    f.get(dd).op("f32.div").set(mu);
    forColumns(f, d, (L) => v[L.w], (L, jb, { b, c }) => {
      f.get(rx).get(jb).op("i32.add");
      L.load().splat(mu).op("sub").f.tee(c).get(c);
      L.op("mul").f.get(b);
      L.op("add").f.set(b);
    });
    f.f32(1);
    total(f, v[4].b, v[1].b);
    f.get(dd).op("f32.div").get(eps).op("f32.add").op("f32.sqrt").op("f32.div").set(rs);
    f.get(mean).get(r).i32(4).op("i32.mul").op("i32.add").get(mu).storeF32();
    f.get(rstd).get(r).i32(4).op("i32.mul").op("i32.add").get(rs).storeF32();
    forColumns(f, d, () => 0, (L, jb) => {
      f.get(ry).get(jb).op("i32.add");
      f.get(rx).get(jb).op("i32.add");
      L.load().splat(mu).op("sub").splat(rs).op("mul");
      f.get(gamma).get(jb).op("i32.add");
      L.load().op("mul");
      f.get(beta).get(jb).op("i32.add");
      L.load().op("add").store();
    });
  });
  return f;
}

/**
 * `layer_norm_grad`, or with `parts` `layer_norm_grad_parts(x, γ, dy, μ, r, dx, parts, rows,
 * d)`: each block's `dγ` and `dβ` sums are left in their own `2·d` floats at `parts` (block
 * after block) instead of being added into `dγ`, `dβ` (see {@link gradPrologue}).
 */
function layerNormGrad(parts = false): FunctionBuilder {
  const n = parts ? 9 : 11;
  const f = new FunctionBuilder(Array(n).fill("i32"));
  const p = [...Array(n).keys()].map((i) => f.param(i));
  const [x, gamma, dy, mean, rstd, dx] = p as [Local, Local, Local, Local, Local, Local];
  const [rows, d] = parts ? [p[7]!, p[8]!] : [p[8]!, p[9]!];
  const blk = parts ? f.local("i32") : p[10]!;
  const rx = f.local("i32"), rdy = f.local("i32"), rdx = f.local("i32"), bb = f.local("i32");
  const m = f.local("f32"), s = f.local("f32"), ma = f.local("f32"), mc = f.local("f32");
  const dd = f.local("f32");
  f.get(d).op("f32.convert_i32_s").set(dd);
  const perWidth = (L: Lanes) => ({
    a: f.local(L.type), // Σ dy·γ
    b: f.local(L.type), // Σ dy·γ·x̂
    h: f.local(L.type), // x̂
    g: f.local(L.type), // dy
    gh: f.local(L.type), // dy·γ
  });
  const L4 = new Lanes(f, 4), L1 = new Lanes(f, 1);
  const v = { 4: perWidth(L4), 1: perWidth(L1) } as const;
  const at = (base: Local, jb: Local) => f.get(base).get(jb).op("i32.add");
  const blockBytes = () => f.get(d).i32(8).op("i32.mul");
  if (parts) {
    f.get(p[6]!);
    blockBytes();
    f.op("i32.sub").set(blk);
  } else {
    zeroFloats(f, p[6]!, d);
    zeroFloats(f, p[7]!, d);
    f.get(blk).get(d).i32(4).op("i32.mul").op("i32.add").set(bb);
  }
  rowBlocks(f, rows, () => {
    if (parts) {
      f.get(blk);
      blockBytes();
      f.op("i32.add").set(blk);
      f.get(blk).get(d).i32(4).op("i32.mul").op("i32.add").set(bb);
    }
    zeroFloats(f, blk, d);
    zeroFloats(f, bb, d);
  }, (r) => {
    f.get(r).get(d).op("i32.mul").i32(4).op("i32.mul").set(rx);
    f.get(dy).get(rx).op("i32.add").set(rdy);
    f.get(dx).get(rx).op("i32.add").set(rdx);
    f.get(x).get(rx).op("i32.add").set(rx);
    f.get(mean).get(r).i32(4).op("i32.mul").op("i32.add").loadF32().set(m);
    f.get(rstd).get(r).i32(4).op("i32.mul").op("i32.add").loadF32().set(s);
    zeroAccumulators(f, [v[4], v[1]]);
    forColumns(f, d, (L) => v[L.w], (L, jb, { a, b, h, g, gh }) => {
      at(rx, jb);
      L.load().splat(m).op("sub").splat(s).op("mul").f.set(h);
      at(rdy, jb);
      L.load().f.tee(g);
      at(gamma, jb);
      L.load().op("mul").f.tee(gh).get(a);
      L.op("add").f.set(a);
      f.get(gh).get(h);
      L.op("mul").f.get(b);
      L.op("add").f.set(b);
      at(blk, jb);
      at(blk, jb);
      L.load().f.get(g).get(h);
      L.op("mul").op("add").store();
      at(bb, jb);
      at(bb, jb);
      L.load().f.get(g);
      L.op("add").store();
    });
    total(f, v[4].a, v[1].a);
    f.get(dd).op("f32.div").set(ma);
    total(f, v[4].b, v[1].b);
    f.get(dd).op("f32.div").set(mc);
    forColumns(f, d, (L) => v[L.w], (L, jb, { h }) => {
      at(rx, jb);
      L.load().splat(m).op("sub").splat(s).op("mul").f.set(h);
      at(rdx, jb);
      at(rdy, jb);
      L.load();
      at(gamma, jb);
      L.load().op("mul").splat(ma).op("sub").f.get(h);
      L.splat(mc).op("mul").op("sub").splat(s).op("mul").store();
    });
  }, () => {
    if (parts) return;
    addFloats(f, p[6]!, blk, d);
    addFloats(f, p[7]!, bb, d);
  });
  return f;
}

function softmaxGrad(): FunctionBuilder {
  const f = new FunctionBuilder(Array(4).fill("i32"));
  const [p, dp, rows, t] = [...Array(4).keys()].map((i) => f.param(i));
  const r = f.local("i32"), rp = f.local("i32"), rd = f.local("i32"), dot = f.local("f32");
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.get(r).get(t).op("i32.mul").i32(4).op("i32.mul").set(rd);
    f.get(p).get(rd).op("i32.add").set(rp);
    f.get(dp).get(rd).op("i32.add").set(rd);
    // dot = Σ p·dp / Σ p: normalising by the computed Σ p makes Σ_j dS_j vanish to
    // rounding (it is exactly 0 in exact arithmetic), as the softmax Jacobian implies.
    const [a4, a1] = forColumns(f, t, (L) => {
      const acc = { pd: f.local(L.type), ps: f.local(L.type), pv: f.local(L.type) };
      L.zero().f.set(acc.pd);
      L.zero().f.set(acc.ps);
      return acc;
    }, (L, jb, { pd, ps, pv }) => {
      f.get(rp).get(jb).op("i32.add");
      L.load().f.tee(pv);
      f.get(rd).get(jb).op("i32.add");
      L.load().op("mul").f.get(pd);
      L.op("add").f.set(pd);
      f.get(pv).get(ps);
      L.op("add").f.set(ps);
    });
    total(f, a4.pd, a1.pd);
    total(f, a4.ps, a1.ps);
    f.op("f32.div").set(dot);
    forColumns(f, t, () => 0, (L, jb) => {
      f.get(rd).get(jb).op("i32.add");
      f.get(rp).get(jb).op("i32.add");
      L.load();
      f.get(rd).get(jb).op("i32.add");
      L.load().splat(dot).op("sub").op("mul").store();
    });
  });
  return f;
}

/** Adds the row kernels to `m`, exported under the names in the module notes. */
export function addRowKernels(m: ModuleBuilder): void {
  m.add(gradPrologue(), "grad_prologue");
  m.add(gradPrologue(true), "grad_prologue_parts");
  m.add(softmaxGrad(), "softmax_grad");
  m.add(layerNorm(), "layer_norm");
  m.add(layerNormGrad(), "layer_norm_grad");
  m.add(layerNormGrad(true), "layer_norm_grad_parts");
}
