/**
 * The LayerNorm backward's form, measured per shape on the device: the
 * one-pass program (`kernels/layernorm_backward_fused.ts`) with some number
 * of rows per workgroup — fewer rows, more workgroups and more partial column
 * sums; more rows, fewer of both — or the two-kernel backward
 * (`kernels/layernorm_backward.ts`: dx, then the partial sums, reading x, dy
 * and the statistics twice). The rule ({@linkcode rowsPerGroup}: ≈ 2,048
 * workgroups, 4–32 rows each) was chosen on the CPU; `--autotune` times the
 * forms on each shape a step runs (`kernels/layernorm_autotune.ts`) and this
 * table keeps the fastest. `NOVALAB_LAYERNORM_BACKWARD=split` overrides it.
 *
 * @module
 */
import { envIs } from "../core/env.ts";
import { TuningTable } from "./tuning_table.ts";

/** The shape of a LayerNorm backward call. */
export interface LayerNormShape {
  /** Rows (every leading dimension). */
  rows: number;
  /** Normalised width. */
  dim: number;
  /** A skip connection's gradient is added to dx. */
  skip: boolean;
}

/** `layernorm RxD [skip]`: the table key of `shape`. */
export function layerNormShapeKey(s: LayerNormShape): string {
  return `layernorm ${s.rows}x${s.dim}${s.skip ? " skip" : ""}`;
}

/** Per shape: rows per workgroup of the one-pass backward, or 0 for the two-kernel form. */
export const layerNormTable: TuningTable<LayerNormShape, number> = new TuningTable(
  layerNormShapeKey,
);

/** Environment switch: `split` keeps the two-kernel backward, whatever the table says. */
export const LAYER_NORM_BACKWARD_ENV = "NOVALAB_LAYERNORM_BACKWARD";

function splitRequested(): boolean {
  return envIs(LAYER_NORM_BACKWARD_ENV, "split");
}

/** Rows per workgroup by rule: ≈ 2,048 workgroups for large inputs, 4–32 rows each. */
export function rowsPerGroup(rows: number): number {
  return Math.min(32, Math.max(4, Math.ceil(rows / 2048)));
}

/**
 * The form a LayerNorm backward of `shape` takes: rows per workgroup of the
 * one-pass program, or 0 for the two-kernel backward — the environment, else
 * the tuned entry, else the rule. Tells recordings that the shape ran.
 */
export function layerNormBackwardForm(shape: LayerNormShape): number {
  layerNormTable.note(shape);
  if (splitRequested()) return 0;
  return layerNormTable.get(shape) ?? rowsPerGroup(shape.rows);
}
