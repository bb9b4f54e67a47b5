/**
 * Generated WebAssembly SIMD matrix product for the WASM backend (single
 * thread), `C = α·A·B (+ bias) (ReLU)`, with any element strides for A
 * and B, two levels of batch strides, and C row-major. It is GotoBLAS-shaped:
 * B is packed (zero-padded) into panels of {@linkcode GEMM_NR} columns for a
 * {@linkcode GEMM_KC}×{@linkcode GEMM_NC} block, and a register-blocked
 * micro-kernel computes {@linkcode GEMM_MR}×NR tiles with fused multiply-adds
 * (relaxed SIMD), reading A in place through one of two layouts: rows
 * contiguous (`sak = 1`) or columns contiguous (`sam = 1`, a transposed
 * operand). Callers guarantee one of the two (`kernels/wasm_matmul.ts`).
 *
 * Exported function `gemm(M, N, K, A, sam, sak, B, sbk, sbn, C, ldc, bias,
 * flags, G1, G2, sa1, sa2, sb1, sb2, sc1, sc2, scratch, alpha)`: sizes and
 * strides in elements, addresses in bytes, `scratch` at least
 * {@linkcode gemmScratchFloats}`(N)` floats; `flags`: {@linkcode GEMM_RELU},
 * {@linkcode GEMM_BIAS}, {@linkcode GEMM_A_COLUMNS}. C is overwritten (blocks of
 * K after the first add to it; α, the bias and the ReLU apply after the last).
 * Batch `(g1, g2)` offsets A, B and C by `g1·s?1 + g2·s?2` elements.
 *
 * @module
 */
import { FunctionBuilder, type Local, type ModuleBuilder } from "./wasm_asm.ts";

/** Rows of the micro-kernel tile. */
export const GEMM_MR = 6;
/** Four-lane vectors per tile row; the tile is {@linkcode GEMM_MR}×(4·NV). */
const NV = 2;
/** Columns of the micro-kernel tile (a packed panel's width). */
export const GEMM_NR = 4 * NV;
/** Depth of a packed block of B. */
export const GEMM_KC = 256;
/** Columns of a packed block of B. */
export const GEMM_NC = 512;
/** Unrolling of the micro-kernel's depth loop. */
const UNROLL = 4;

/** `flags`: ReLU on the result. */
export const GEMM_RELU = 2;
/** `flags`: add `bias[n]` (a float vector of length N at `bias`). */
export const GEMM_BIAS = 4;
/** `flags`: A's columns are contiguous (`sam = 1`); otherwise its rows are (`sak = 1`). */
export const GEMM_A_COLUMNS = 8;

// Micro-kernel modes.
const LOAD = 1, EPILOGUE = 2, BIAS = 4, RELU = 8;

/** Floats of scratch `gemm` needs for N columns: packed block, a C tile and the padded bias. */
export function gemmScratchFloats(n: number): number {
  return GEMM_KC * GEMM_NC + GEMM_MR * GEMM_NR + Math.ceil(n / GEMM_NR) * GEMM_NR;
}

/**
 * Micro-kernel for `mr` rows: `(kc, pa, sam4, sak4, pb, pc, ldc4, mode, pbias, alpha)`.
 * `columns` selects the A layout (columns contiguous: one pointer, rows at
 * constant offsets; rows contiguous: a pointer per row, depth at constant offsets).
 */
function microKernel(mr: number, columns: boolean): FunctionBuilder {
  const f = new FunctionBuilder([
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "i32",
    "f32",
  ]);
  const [kc, pa, sam4, sak4, pb, pc, ldc4, mode, pbias, alpha] = [...Array(10).keys()].map((i) =>
    f.param(i)
  );
  const acc: Local[][] = [...Array(mr)].map(() => [...Array(NV)].map(() => f.local("v128")));
  const bv: Local[] = [...Array(NV)].map(() => f.local("v128"));
  const av = f.local("v128");
  const k = f.local("i32"), kEnd = f.local("i32");
  const rowA: Local[] = [...Array(mr)].map(() => f.local("i32"));
  const rowC: Local[] = [...Array(mr)].map(() => f.local("i32"));
  for (let r = 0; r < mr; r++) {
    f.get(pc).get(ldc4).i32(r).op("i32.mul").op("i32.add").set(rowC[r]!);
    if (!columns) f.get(pa).get(sam4).i32(r).op("i32.mul").op("i32.add").set(rowA[r]!);
  }
  f.get(mode).i32(LOAD).op("i32.and").if(
    () => acc.forEach((row, r) => row.forEach((a, v) => f.get(rowC[r]!).loadV(v * 16).set(a))),
    () => acc.flat().forEach((a) => f.f32x4(0).set(a)),
  );
  /** One depth step `u` of an unrolled group: B vectors at pb + u·NR·4, A at constant offsets. */
  const step = (u: number) => {
    bv.forEach((b, v) => f.get(pb).loadV((u * GEMM_NR + v * 4) * 4).set(b));
    for (let r = 0; r < mr; r++) {
      if (columns) f.get(pa).loadSplat(r * 4).set(av);
      else f.get(rowA[r]!).loadSplat(u * 4).set(av);
      acc[r]!.forEach((a, v) => f.get(av).get(bv[v]!).get(a).simd("f32x4.relaxed_madd").set(a));
    }
    if (columns) f.get(pa).get(sak4).op("i32.add").set(pa);
  };
  const advance = (u: number) => {
    f.get(pb).i32(u * GEMM_NR * 4).op("i32.add").set(pb);
    if (!columns) rowA.forEach((p) => f.get(p).i32(u * 4).op("i32.add").set(p));
  };
  f.get(kc).get(kc).i32(UNROLL).op("i32.rem_s").op("i32.sub").set(kEnd);
  f.for(k, () => f.i32(0), () => f.get(kEnd), UNROLL, () => {
    for (let u = 0; u < UNROLL; u++) step(u);
    advance(UNROLL);
  });
  f.for(k, () => f.get(kEnd), () => f.get(kc), 1, () => {
    step(0);
    advance(1);
  });
  f.get(mode).i32(EPILOGUE).op("i32.and").if(() => {
    for (const a of acc.flat()) f.get(a).get(alpha).simd("f32x4.splat").simd("f32x4.mul").set(a);
    f.get(mode).i32(BIAS).op("i32.and").if(() =>
      acc.forEach((row) =>
        row.forEach((a, v) => f.get(a).get(pbias).loadV(v * 16).simd("f32x4.add").set(a))
      )
    );
    f.get(mode).i32(RELU).op("i32.and").if(() =>
      acc.flat().forEach((a) => f.get(a).f32x4(0).simd("f32x4.max").set(a))
    );
  });
  acc.forEach((row, r) => row.forEach((a, v) => f.get(rowC[r]!).get(a).storeV(v * 16)));
  return f;
}

/**
 * Packs a `kc`×`nc` block of B (`src`, byte strides `sbk4`, `sbn4`) into
 * ceil(nc/NR) panels of `kc`×NR floats at `dst`, zero-padding the last panel.
 */
function packB(): FunctionBuilder {
  const f = new FunctionBuilder(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [src, kc, nc, sbk4, sbn4, dst] = [...Array(6).keys()].map((i) => f.param(i));
  const p = f.local("i32"), k = f.local("i32"), j = f.local("i32");
  const from = f.local("i32"), to = f.local("i32"), width = f.local("i32");
  f.for(p, () => f.i32(0), () => f.get(nc), GEMM_NR, () => {
    f.get(nc).get(p).op("i32.sub").set(width); // columns left (may exceed NR)
    f.get(sbn4).i32(4).op("i32.eq").get(width).i32(GEMM_NR).op("i32.ge_s").op("i32.and").if(
      () => {
        // Contiguous full panel: rows of NR floats copied as vectors.
        f.get(src).get(p).get(sbn4).op("i32.mul").op("i32.add").set(from);
        f.for(k, () => f.i32(0), () => f.get(kc), 1, () => {
          for (let v = 0; v < NV; v++) f.get(dst).get(from).loadV(v * 16).storeV(v * 16);
          f.get(from).get(sbk4).op("i32.add").set(from);
          f.get(dst).i32(GEMM_NR * 4).op("i32.add").set(dst);
        });
      },
      () => {
        // Any strides or a partial panel: column by column, zeros past the edge.
        f.for(j, () => f.i32(0), () => f.i32(GEMM_NR), 1, () => {
          f.get(dst).get(j).i32(4).op("i32.mul").op("i32.add").set(to);
          f.get(j).get(width).op("i32.lt_s").if(
            () => {
              f.get(src).get(p).get(j).op("i32.add").get(sbn4).op("i32.mul").op("i32.add")
                .set(from);
              f.for(k, () => f.i32(0), () => f.get(kc), 1, () => {
                f.get(to).get(from).loadF32().storeF32();
                f.get(from).get(sbk4).op("i32.add").set(from);
                f.get(to).i32(GEMM_NR * 4).op("i32.add").set(to);
              });
            },
            () =>
              f.for(k, () => f.i32(0), () => f.get(kc), 1, () => {
                f.get(to).f32(0).storeF32();
                f.get(to).i32(GEMM_NR * 4).op("i32.add").set(to);
              }),
          );
        });
        f.get(dst).get(kc).i32(GEMM_NR * 4).op("i32.mul").op("i32.add").set(dst);
      },
    );
  });
  return f;
}

/**
 * Copies an `rows`×`cols` float block between row strides `ldFrom4` and `ldTo4`
 * (bytes): `(from, ldFrom4, to, ldTo4, rows, cols)`.
 */
function copyTile(): FunctionBuilder {
  const f = new FunctionBuilder(["i32", "i32", "i32", "i32", "i32", "i32"]);
  const [from, ldFrom4, to, ldTo4, rows, cols] = [...Array(6).keys()].map((i) => f.param(i));
  const r = f.local("i32"), c = f.local("i32");
  f.for(r, () => f.i32(0), () => f.get(rows), 1, () => {
    f.for(c, () => f.i32(0), () => f.get(cols), 1, () => {
      f.get(to).get(c).i32(4).op("i32.mul").op("i32.add");
      f.get(from).get(c).i32(4).op("i32.mul").op("i32.add").loadF32();
      f.storeF32();
    });
    f.get(from).get(ldFrom4).op("i32.add").set(from);
    f.get(to).get(ldTo4).op("i32.add").set(to);
  });
  return f;
}

/** Adds the GEMM (micro-kernels, packing, driver) to `m`; exports it as `gemm`. */
export function addGemm(m: ModuleBuilder): void {
  const micro: Record<"rows" | "columns", number[]> = { rows: [], columns: [] };
  for (const layout of ["rows", "columns"] as const) {
    for (let mr = 1; mr <= GEMM_MR; mr++) {
      micro[layout][mr] = m.add(microKernel(mr, layout === "columns"));
    }
  }
  const pack = m.add(packB());
  const copy = m.add(copyTile());
  m.add(driver(micro, pack, copy), "gemm");
}

function driver(micro: Record<"rows" | "columns", number[]>, pack: number, copy: number) {
  const f = new FunctionBuilder([...Array(22).fill("i32"), "f32"]);
  const [M, N, K, A, sam, sak, B, sbk, sbn, C, ldc, bias, flags] = [...Array(13).keys()].map((
    i,
  ) => f.param(i));
  const [G1, G2, sa1, sa2, sb1, sb2, sc1, sc2, scratch] = [...Array(9).keys()].map((i) =>
    f.param(13 + i)
  );
  const alpha = f.param(22);
  const L = () => f.local("i32");
  const [g1, g2, ag, bg, cg, n0, nc, k0, kc, m0, mr, p, ncol, pa, pc, mode, i] = [...Array(17)]
    .map(L);
  const [packed, tile, biasBuf, modeBase] = [L(), L(), L(), L()];
  // Scratch layout: packed block, one C tile, the zero-padded bias.
  f.get(scratch).set(packed);
  f.get(packed).i32(GEMM_KC * GEMM_NC * 4).op("i32.add").set(tile);
  f.get(tile).i32(GEMM_MR * GEMM_NR * 4).op("i32.add").set(biasBuf);
  f.get(flags).i32(GEMM_BIAS).op("i32.and").if(() => {
    const padded = () => f.get(N).i32(GEMM_NR - 1).op("i32.add").i32(-GEMM_NR).op("i32.and");
    f.for(i, () => f.i32(0), padded, 1, () => {
      f.get(biasBuf).get(i).i32(4).op("i32.mul").op("i32.add");
      // bias[i] for i < N, else 0 (select evaluates both: the load stays in bounds via min).
      f.get(bias).get(i).get(N).i32(1).op("i32.sub").get(i).get(N).op("i32.lt_s").op("select");
      f.i32(4).op("i32.mul").op("i32.add").loadF32();
      f.f32(0).get(i).get(N).op("i32.lt_s").op("select").storeF32();
    });
  });
  f.i32(0).set(modeBase);
  f.get(flags).i32(GEMM_BIAS).op("i32.and").if(() => f.i32(BIAS).set(modeBase));
  f.get(flags).i32(GEMM_RELU).op("i32.and").if(() =>
    f.get(modeBase).i32(RELU).op("i32.or").set(modeBase)
  );
  const bytes = (x: Local) => f.get(x).i32(4).op("i32.mul");
  const offset = (base: Local, s1: Local, s2: Local, out: Local) => {
    f.get(base).get(g1).get(s1).op("i32.mul").get(g2).get(s2).op("i32.mul").op("i32.add");
    f.i32(4).op("i32.mul").op("i32.add").set(out);
  };
  const callMicro = (layout: "rows" | "columns", c: Local, ldc4: () => void) => {
    for (let r = GEMM_MR; r >= 1; r--) {
      f.get(mr).i32(r).op("i32.eq").if(() => {
        f.get(kc).get(pa).get(sam).i32(4).op("i32.mul").get(sak).i32(4).op("i32.mul");
        f.get(packed).get(p).get(kc).op("i32.mul").i32(4).op("i32.mul").op("i32.add");
        f.get(c);
        ldc4();
        f.get(mode).get(biasBuf).get(n0).get(p).op("i32.add").i32(4).op("i32.mul").op("i32.add");
        f.get(alpha).call(micro[layout][r]!);
      });
    }
  };
  const tileCall = (layout: "rows" | "columns") => {
    f.get(ncol).i32(GEMM_NR).op("i32.eq").if(
      () => callMicro(layout, pc, () => bytes(ldc)),
      () => {
        f.get(mode).i32(LOAD).op("i32.and").if(() => {
          f.get(pc).get(ldc).i32(4).op("i32.mul").get(tile).i32(GEMM_NR * 4).get(mr).get(ncol)
            .call(copy);
        });
        callMicro(layout, tile, () => f.i32(GEMM_NR * 4));
        f.get(tile).i32(GEMM_NR * 4).get(pc).get(ldc).i32(4).op("i32.mul").get(mr).get(ncol)
          .call(copy);
      },
    );
  };
  f.for(g1, () => f.i32(0), () => f.get(G1), 1, () => {
    f.for(g2, () => f.i32(0), () => f.get(G2), 1, () => {
      offset(A, sa1, sa2, ag);
      offset(B, sb1, sb2, bg);
      offset(C, sc1, sc2, cg);
      f.for(n0, () => f.i32(0), () => f.get(N), GEMM_NC, () => {
        f.get(N).get(n0).op("i32.sub").set(nc);
        f.get(nc).i32(GEMM_NC).get(nc).i32(GEMM_NC).op("i32.lt_s").op("select").set(nc);
        f.for(k0, () => f.i32(0), () => f.get(K), GEMM_KC, () => {
          f.get(K).get(k0).op("i32.sub").set(kc);
          f.get(kc).i32(GEMM_KC).get(kc).i32(GEMM_KC).op("i32.lt_s").op("select").set(kc);
          f.get(bg).get(k0).get(sbk).op("i32.mul").get(n0).get(sbn).op("i32.mul").op("i32.add");
          f.i32(4).op("i32.mul").op("i32.add");
          f.get(kc).get(nc);
          bytes(sbk);
          bytes(sbn);
          f.get(packed).call(pack);
          // mode: load C after the first block of K; epilogue on the last.
          f.get(modeBase).set(mode);
          f.get(k0).i32(0).op("i32.ne").if(() => f.get(mode).i32(LOAD).op("i32.or").set(mode));
          f.get(k0).get(kc).op("i32.add").get(K).op("i32.ge_s").if(
            () => f.get(mode).i32(EPILOGUE).op("i32.or").set(mode),
            () => f.get(mode).i32(~(BIAS | RELU)).op("i32.and").set(mode),
          );
          f.for(m0, () => f.i32(0), () => f.get(M), GEMM_MR, () => {
            f.get(M).get(m0).op("i32.sub").set(mr);
            f.get(mr).i32(GEMM_MR).get(mr).i32(GEMM_MR).op("i32.lt_s").op("select").set(mr);
            f.get(ag).get(m0).get(sam).op("i32.mul").get(k0).get(sak).op("i32.mul").op("i32.add");
            f.i32(4).op("i32.mul").op("i32.add").set(pa);
            f.for(p, () => f.i32(0), () => f.get(nc), GEMM_NR, () => {
              f.get(nc).get(p).op("i32.sub").set(ncol);
              f.get(ncol).i32(GEMM_NR).get(ncol).i32(GEMM_NR).op("i32.lt_s").op("select")
                .set(ncol);
              f.get(cg).get(m0).get(ldc).op("i32.mul").get(n0).op("i32.add").get(p).op("i32.add");
              f.i32(4).op("i32.mul").op("i32.add").set(pc);
              f.get(flags).i32(GEMM_A_COLUMNS).op("i32.and").if(
                () => tileCall("columns"),
                () => tileCall("rows"),
              );
            });
          });
        });
      });
    });
  });
  return f;
}
