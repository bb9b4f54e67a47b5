/**
 * Planning a novalab matmul on WebGPU: the shapes of `op(A)·op(B)` with batch
 * broadcasting, the program's uniforms, and the work split — which tile, and
 * into how many slices along k ("split-K") the product is cut.
 *
 * Why split-K: a linear layer's weight gradient `Xᵀ·dY` has a small output
 * (`[in, out]`, e.g. 192 × 192 in ViT-Ti) and a huge depth (every token of the
 * batch: 12,608 at batch 64). Tiled over the output alone it is a few dozen
 * workgroups, each looping over all 12,608 rows while most of the GPU idles.
 * Cut into S slices of k, it is S times as many workgroups, each writing a
 * partial product; one small dispatch sums them (`kernels/matmul_split_k.ts`)
 * and applies the epilogue. cuBLAS does the same for such shapes.
 *
 * @module
 */
import type { MatMulTile } from "./matmul_program.ts";
import { activeMatMulTiles } from "./matmul_tile_form.ts";

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

/** Workgroups a dispatch should have to fill a ~100-SM GPU (untuned guess; see `chooseTiling`). */
export const MIN_WORKGROUPS = 256;
/**
 * Smallest k-slice of an automatic split: below it a workgroup's loop is short
 * anyway, and the extra dispatch and partial sums cost more than they save.
 */
export const MIN_SPLIT_DEPTH = 256;
/** An automatic split needs `k ≥ DEEP_RATIO · max(m, n)`. */
export const DEEP_RATIO = 2;
/**
 * …and at least this many multiply-adds (2²⁶, ~0.13 GFLOP): smaller products
 * cost about one dispatch whichever way they are cut.
 */
export const MIN_SPLIT_WORK = 2 ** 26;
/** Most slices a product is cut into. */
export const MAX_SPLITS = 64;
/** Largest partial-product buffer a split may allocate (bytes). */
export const MAX_SPLIT_BYTES = 64 * 2 ** 20;

/**
 * Environment switch of the split-K choice (GPU A/B runs): `0` never splits;
 * `N ≥ 2` cuts every product that would be split into N slices instead of the
 * automatic count (fewer where k is too short).
 */
export const SPLIT_K_ENV = "NOVALAB_MATMUL_SPLIT_K";

/** `NOVALAB_MATMUL_SPLIT_K` as a number, or `undefined` when unset or unreadable. */
export function splitKOverride(): number | undefined {
  let flag: string | undefined;
  try {
    flag = Deno.env.get(SPLIT_K_ENV);
  } catch {
    flag = undefined;
  }
  if (flag === undefined || flag === "") return undefined;
  const n = Number.parseInt(flag, 10);
  if (!Number.isInteger(n) || n < 0 || String(n) !== flag.trim()) {
    throw new Error(
      `kernels/matmul_plan.ts: ${SPLIT_K_ENV}='${flag}' is not a whole number; ` +
        "use 0 (never split) or the number of k slices (2 or more)",
    );
  }
  return n;
}

/** A tile and how k is cut: `splits` slices of `kChunk` (a multiple of the tile's `bk`). */
export interface MatMulTiling {
  /** Tile shape. */
  tile: MatMulTile;
  /** Slices of k (1: no split). */
  splits: number;
  /** Depth of each slice (the last may be shorter); `k` when not split. */
  kChunk: number;
}

function tileGroups(plan: MatMulPlan, t: MatMulTile): number {
  return plan.batch * Math.ceil(plan.m / (t.wgY * t.tm)) * Math.ceil(plan.n / (t.wgX * t.tn));
}

/**
 * `tile` with k cut into about `wanted` slices (`wanted` ≤ 1: no split), at
 * most what {@linkcode MAX_SPLITS}, {@linkcode MAX_SPLIT_BYTES} and slices of
 * `minDepth` allow (automatic splits: {@linkcode MIN_SPLIT_DEPTH}; asked-for
 * ones: one staged k-slice).
 */
export function splitTiling(
  plan: MatMulPlan,
  tile: MatMulTile,
  wanted: number,
  minDepth = MIN_SPLIT_DEPTH,
): MatMulTiling {
  const bytesPerSlice = plan.batch * plan.m * plan.n * 4;
  const most = Math.min(
    MAX_SPLITS,
    Math.floor(plan.k / Math.max(minDepth, tile.bk)),
    Math.floor(MAX_SPLIT_BYTES / bytesPerSlice),
  );
  const target = Math.min(Math.floor(wanted), most);
  if (target < 2) return { tile, splits: 1, kChunk: plan.k };
  const kChunk = Math.ceil(plan.k / target / tile.bk) * tile.bk;
  const splits = Math.ceil(plan.k / kChunk);
  return splits < 2 ? { tile, splits: 1, kChunk: plan.k } : { tile, splits, kChunk };
}

/**
 * The tile and split for `plan`: the largest tile that gives at least
 * `minWorkgroups` workgroups — for a deep product (`k ≥ 2·max(m, n)` and at
 * least {@linkcode MIN_SPLIT_WORK} multiply-adds: a weight gradient) counting the k slices it may be cut into, so it gets a large tile
 * cut along k rather than a small tile looping over all of k; small problems
 * get small tiles so little work is wasted on padding. `tile` fixes the tile (tests); `splits` the
 * slices wanted (default: {@linkcode SPLIT_K_ENV}, else automatic). The
 * thresholds are untuned guesses for a ~100-SM GPU.
 */
export function chooseTiling(
  plan: MatMulPlan,
  options: { tile?: MatMulTile; splits?: number; minWorkgroups?: number } = {},
): MatMulTiling {
  const minWorkgroups = options.minWorkgroups ?? MIN_WORKGROUPS;
  const forced = options.splits ?? splitKOverride();
  const minDepth = forced === undefined ? MIN_SPLIT_DEPTH : 1;
  // Automatic splits only for deep products (k the long side: weight gradients);
  // elsewhere a smaller whole tile wastes less than partial sums of a large output.
  const deep = plan.k >= DEEP_RATIO * Math.max(plan.m, plan.n) &&
    plan.batch * plan.m * plan.n * plan.k >= MIN_SPLIT_WORK;
  if (forced === undefined && !deep) {
    return splitTiling(plan, options.tile ?? chooseTile(plan, minWorkgroups), 1);
  }
  const split = (t: MatMulTile, whole: boolean) =>
    splitTiling(
      plan,
      t,
      whole ? 1 : forced ?? Math.ceil(minWorkgroups / Math.max(1, tileGroups(plan, t))),
      minDepth,
    );
  if (options.tile) return split(options.tile, false);
  const tiles = activeMatMulTiles();
  for (const t of tiles) {
    const tiling = split(t, tileGroups(plan, t) >= minWorkgroups);
    if (tileGroups(plan, t) * tiling.splits >= minWorkgroups) return tiling;
  }
  return split(tiles[tiles.length - 1]!, false);
}

/** The largest tile that still gives `minWorkgroups` workgroups without splitting k. */
export function chooseTile(plan: MatMulPlan, minWorkgroups = MIN_WORKGROUPS): MatMulTile {
  const tiles = activeMatMulTiles();
  for (const t of tiles) if (tileGroups(plan, t) >= minWorkgroups) return t;
  return tiles[tiles.length - 1]!;
}
