/**
 * `splitGemm` (`kernels/wasm_gemm_split.ts`): the parts write every element
 * of C exactly once and read the operands the whole call reads there; small
 * calls stay whole; each shape cuts along the dimension the rule names.
 */
import assert from "node:assert/strict";
import { GEMM_BIAS, GEMM_MR, GEMM_NR } from "./wasm_gemm.ts";
import { type GemmCall, splitGemm } from "./wasm_gemm_split.ts";
import { rowMajorGemmCall } from "./testing_cases.ts";

/** A call on a row-major [G1, G2, M, K]·[G1, G2, K, N] product at made-up addresses. */
function call(M: number, N: number, K: number, G1 = 1, G2 = 1, flags = 0): GemmCall {
  const at = { A: 1 << 20, B: 1 << 24, C: 1 << 28, bias: 1 << 16, scratch: 64 };
  return rowMajorGemmCall({ M, N, K, G1, G2, flags }, at);
}

/**
 * For every element of C a part writes: where it reads A's first depth
 * element, B's first depth element and the bias. Keyed by C's address.
 */
function footprint(parts: GemmCall[]): Map<number, string> {
  const out = new Map<number, string>();
  for (const p of parts) {
    for (let g1 = 0; g1 < p.G1; g1++) {
      for (let g2 = 0; g2 < p.G2; g2++) {
        for (let m = 0; m < p.M; m++) {
          for (let n = 0; n < p.N; n++) {
            const c = p.C + 4 * (g1 * p.sc1 + g2 * p.sc2 + m * p.ldc + n);
            assert.ok(!out.has(c), `C element at ${c} written twice`);
            const a = p.A + 4 * (g1 * p.sa1 + g2 * p.sa2 + m * p.sam);
            const b = p.B + 4 * (g1 * p.sb1 + g2 * p.sb2 + n * p.sbn);
            const bias = p.flags & GEMM_BIAS ? p.bias + 4 * n : 0;
            out.set(c, `${a}/${b}/${bias}/${p.K}/${p.alpha}/${p.flags}`);
          }
        }
      }
    }
  }
  return out;
}

Deno.test("splitGemm: parts cover C once, with the operands of the whole call", () => {
  type Along = "G1" | "G2" | "M" | "N";
  const cases: [GemmCall, (parts: number) => Along][] = [
    [call(7, 9, 9000, 5, 3), () => "G1"],
    [call(7, 9, 9000, 1, 3), () => "G2"],
    [call(131, 17, 300), () => "M"],
    [call(9, 301, 700, 1, 1, GEMM_BIAS), () => "N"],
    // Two samples: cut by sample for two threads, by rows (of both samples) for more.
    [call(61, 61, 300, 2, 1), (parts) => parts === 2 ? "G1" : "M"],
  ];
  for (const [whole, alongFor] of cases) {
    for (const parts of [2, 3, 4]) {
      const along = alongFor(parts);
      const cut = splitGemm(whole, parts);
      assert.ok(
        cut.length > 1 && cut.length <= parts,
        `${along} into ${parts}: ${cut.length} parts`,
      );
      assert.deepEqual(footprint(cut), footprint([whole]), `${along} into ${parts}`);
      const sizes = cut.map((p) => p[along]);
      const total = whole[along];
      assert.equal(sizes.reduce((s, x) => s + x, 0), total, `cut along ${along}`);
      const align = along === "M" ? GEMM_MR : along === "N" ? GEMM_NR : 1;
      sizes.slice(0, -1).forEach((size) => assert.equal(size % align, 0, `${along} aligned`));
    }
  }
});

Deno.test("splitGemm: small calls, one thread and uncuttable shapes stay whole", () => {
  const small = call(16, 16, 16);
  assert.deepEqual(splitGemm(small, 4), [small]);
  const big = call(300, 300, 300);
  assert.deepEqual(splitGemm(big, 1), [big]);
  const thin = call(11, 15, 1 << 16); // too few rows and columns to cut into aligned parts
  assert.deepEqual(splitGemm(thin, 2), [thin]);
});
