/**
 * Tilings measured on the device instead of guessed: which tile and how many
 * k slices a product of a given shape runs with.
 *
 * {@linkcode chooseTiling} picks a tile by rule — the largest tile giving
 * {@linkcode MIN_WORKGROUPS} workgroups, split along k for deep products — with
 * thresholds guessed for a ~100-SM GPU (`MIN_WORKGROUPS`). WebGPU does not say how many compute
 * units a device has, and the best tiling also depends on its caches and
 * memory, so the rule is right on some GPUs and not on others. The products of
 * a training step come in few shapes (a ViT-Ti step: about a dozen), so they
 * can be timed once per device, every candidate tiling of each shape on the
 * device itself, and the fastest kept — what Triton's autotuner does per
 * kernel key. This module holds the table of chosen tilings that the matmul
 * kernel consults ({@linkcode matMulTiling}), records which shapes a step
 * runs ({@linkcode recordMatMulShapes}) and lists each shape's candidates
 * ({@linkcode tilingCandidates}); `kernels/matmul_autotune.ts` times them.
 *
 * A tiling changes only the order in which fp32 products are summed: results
 * agree within fp32 rounding whichever is chosen.
 *
 * @module
 */
import type { MatMulActivation, MatMulTile } from "./matmul_program.ts";
import {
  chooseTiling,
  type MatMulPlan,
  type MatMulTiling,
  splitKOverride,
  splitTiling,
} from "./matmul_plan.ts";
import { activeMatMulTiles, MATMUL_TILE_FORMS } from "./matmul_tile_form.ts";
import { type ShapeRecording, TuningTable } from "./tuning_table.ts";

/** What a tiling is chosen for: a product's sizes, operand layout and staging. */
export interface MatMulShape {
  /** Flattened batch of the output. */
  batch: number;
  /** Rows of op(A). */
  m: number;
  /** Columns of op(B). */
  n: number;
  /** Shared depth. */
  k: number;
  /** A is stored `[..., K, M]`. */
  transposeA: boolean;
  /** B is stored `[..., N, K]`. */
  transposeB: boolean;
  /** Operands staged in f16. */
  f16: boolean;
  /** What the product's dispatch does besides the product (default: nothing). */
  epilogue?: MatMulEpilogue;
}

/** The fused work of a matmul call: timed with it, since it costs differently per tiling. */
export interface MatMulEpilogue {
  /** A bias over n is added. */
  bias?: boolean;
  /** Activation applied (default `linear`). */
  activation?: MatMulActivation;
  /** A residual of the output's shape is added. */
  residual?: boolean;
  /** The result is multiplied by this activation's derivative at an output-sized input. */
  gate?: "relu" | "gelu";
  /** op(B)'s column sums are written too (a linear layer's bias gradient). */
  columnSums?: boolean;
  /** The pre-activation is written too (never split). */
  preActivation?: boolean;
}

/** A call with a gate or a pre-activation output is never cut along k. */
export function mustStayWhole(s: MatMulShape): boolean {
  return s.epilogue?.gate !== undefined || s.epilogue?.preActivation === true;
}

function epilogueKey(e: MatMulEpilogue = {}): string {
  const parts = [
    e.bias ? "bias" : "",
    e.activation && e.activation !== "linear" ? e.activation : "",
    e.residual ? "residual" : "",
    e.gate ? `gate:${e.gate}` : "",
    e.columnSums ? "colsums" : "",
    e.preActivation ? "preact" : "",
  ].filter((p) => p);
  return parts.length ? ` ${parts.join("+")}` : "";
}

/** A chosen tiling: the tile's name and the k slices (1: no split). */
export interface TilingChoice {
  /** A name from {@linkcode tuningTiles}. */
  tile: string;
  /** Slices of k. */
  splits: number;
}

/** `batch×m×n×k AᵀB f16 bias+gelu+…`: the table's key for `shape`. */
export function matMulShapeKey(s: MatMulShape): string {
  const layout = `${s.transposeA ? "T" : "N"}${s.transposeB ? "T" : "N"}`;
  return `${s.batch}x${s.m}x${s.n}x${s.k} ${layout}${s.f16 ? " f16" : ""}${
    epilogueKey(s.epilogue)
  }`;
}

/** Per shape: the tiling chosen for it. */
const tuned = new TuningTable<MatMulShape, TilingChoice>(matMulShapeKey);

/** Makes `choice` the tiling of every product of `shape` (until {@linkcode clearTunedTilings}). */
export function setTunedTiling(shape: MatMulShape, choice: TilingChoice): void {
  tuned.set(shape, { tile: choice.tile, splits: choice.splits });
}

/** The tiling chosen for `shape`, if one was tuned. */
export function tunedTiling(shape: MatMulShape): TilingChoice | undefined {
  return tuned.get(shape);
}

/** Forgets every tuned tiling: products go back to {@linkcode chooseTiling}'s rule. */
export function clearTunedTilings(): void {
  tuned.clear();
}

/** The shapes of the products run since {@linkcode recordMatMulShapes} was called. */
export type MatMulRecording = ShapeRecording<MatMulShape>;

/**
 * Records the shape of every product the matmul kernel plans from now on —
 * run a training step inside it to learn what to tune. Calls that force their
 * tile or split (tests, the tuner itself) are not recorded.
 */
export function recordMatMulShapes(): MatMulRecording {
  return tuned.record();
}

/**
 * The tiles the tuner may choose: the rule's (`activeMatMulTiles()`: the
 * 128 × 128 tile in its chosen form, `t64`, `t32`), then the 128 × 128 tile's
 * other forms (`kernels/matmul_tile_form.ts`) — so each shape also gets the
 * form that is fastest for it on this device.
 */
export function tuningTiles(): MatMulTile[] {
  const base = activeMatMulTiles();
  return [...base, ...MATMUL_TILE_FORMS.filter((f) => !base.some((t) => t.name === f.name))];
}

function tileNamed(name: string): MatMulTile | undefined {
  return tuningTiles().find((t) => t.name === name);
}

/** The tiling `choice` describes for `plan`, cut the way the tuner timed it. */
export function tilingOf(plan: MatMulPlan, choice: TilingChoice): MatMulTiling | undefined {
  const tile = tileNamed(choice.tile);
  return tile ? splitTiling(plan, tile, choice.splits, 1) : undefined;
}

/**
 * The tiling a product runs with: a tile or split the caller forces, else the
 * split `NOVALAB_MATMUL_SPLIT_K` forces, else the tuned one for its shape,
 * else {@linkcode chooseTiling}'s rule. A call that must stay whole is never
 * split.
 */
export function matMulTiling(
  plan: MatMulPlan,
  shape: Omit<MatMulShape, "batch" | "m" | "n" | "k">,
  forced: { tile?: MatMulTile; splits?: number } = {},
): MatMulTiling {
  const key: MatMulShape = { batch: plan.batch, m: plan.m, n: plan.n, k: plan.k, ...shape };
  const free = forced.tile === undefined && forced.splits === undefined;
  if (free) tuned.note(key);
  const choice = free && splitKOverride() === undefined ? tuned.get(key) : undefined;
  const whole = mustStayWhole(key);
  const fromTable = choice && tilingOf(plan, whole ? { ...choice, splits: 1 } : choice);
  if (fromTable) return fromTable;
  return chooseTiling(plan, {
    ...(forced.tile ? { tile: forced.tile } : {}),
    ...(whole ? { splits: 0 } : forced.splits === undefined ? {} : { splits: forced.splits }),
  });
}

/** The plan of a product of `shape` (both operands with the full batch). */
export function planOfShape(s: MatMulShape): MatMulPlan {
  const stride = (rows: number, cols: number) => [0, 0, 0, s.batch > 1 ? rows * cols : 0];
  return {
    outShape: [s.batch, s.m, s.n],
    batch: s.batch,
    m: s.m,
    n: s.n,
    k: s.k,
    outer: [1, 1, 1, s.batch],
    strideA: stride(s.m, s.k),
    strideB: stride(s.k, s.n),
  };
}

/** Most k slices a candidate may have. */
const MOST_CANDIDATE_SPLITS = 32;
/** A candidate split keeps slices at least this deep. */
const MIN_CANDIDATE_DEPTH = 64;

/**
 * The tilings worth timing for `shape`, the rule's choice first: every tile of
 * {@linkcode tuningTiles} whole, and — for products at least as deep as they are wide (weight
 * gradients), unless the call must stay whole — each base tile cut into 2, 4, …, 32
 * slices of at least 64 along k. Duplicates (a split the limits cut back to
 * one already listed) are dropped.
 */
export function tilingCandidates(shape: MatMulShape): TilingChoice[] {
  const plan = planOfShape(shape);
  const whole = mustStayWhole(shape);
  const rule = chooseTiling(plan, whole ? { splits: 0 } : {});
  const out: TilingChoice[] = [{ tile: rule.tile.name, splits: rule.splits }];
  const add = (tile: MatMulTile, wanted: number) => {
    const t = splitTiling(plan, tile, wanted, 1);
    if (!out.some((c) => c.tile === tile.name && c.splits === t.splits)) {
      out.push({ tile: tile.name, splits: t.splits });
    }
  };
  const deep = !whole && shape.k >= Math.max(shape.m, shape.n);
  const base = activeMatMulTiles();
  for (const tile of tuningTiles()) {
    add(tile, 1);
    // The 128 × 128 tile's other forms are timed whole: the split sweep is the base tiles'.
    if (!deep || !base.includes(tile)) continue;
    for (let s = 2; s <= MOST_CANDIDATE_SPLITS; s *= 2) {
      if (shape.k / s < Math.max(MIN_CANDIDATE_DEPTH, tile.bk)) break;
      add(tile, s);
    }
  }
  return out;
}
