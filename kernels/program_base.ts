/**
 * The two shapes most of novalab's WGSL programs take, as base classes that
 * fix tfjs-backend-webgpu's dispatch fields (`dispatchLayout`, `dispatch`,
 * `workgroupSize`), so a program declares only its inputs, output shape,
 * cache key, uniforms and WGSL:
 *
 * - {@linkcode FlatProgram}: one thread per output entry, `main(index)`;
 * - {@linkcode RowProgram}: one workgroup per group of rows, `main()` (rows
 *   numbered `x + y · numWorkgroups.x` by `ROW_PRELUDE`, `kernels/row_reduce.ts`).
 *
 * @module
 */
import type { WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { gridFor } from "./row_reduce.ts";

/** Threads per workgroup of a {@linkcode FlatProgram}. */
export const FLAT_THREADS = 64;

/** One thread per output entry over `units` entries; WGSL `fn main(index : i32)`, guarding `index`. */
export abstract class FlatProgram implements WebGPUProgram {
  /** Inputs (and written extra outputs). */
  abstract variableNames: string[];
  /** Cache key. */
  abstract shaderKey: string;
  /** Program uniforms. */
  abstract uniforms: string;
  /** `[units]` unless a subclass reshapes it. */
  outputShape: number[];
  /** Flat: `main(index)`. */
  dispatchLayout = { x: [0] };
  /** Workgroups (tfjs folds an over-limit grid). */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number] = [FLAT_THREADS, 1, 1];

  /** Covers `units` output entries. */
  constructor(units: number) {
    this.outputShape = [units];
    this.dispatch = [Math.ceil(units / FLAT_THREADS), 1, 1];
  }

  /** WGSL user code. */
  abstract getUserCode(): string;
}

/** One workgroup of `threads` per group of rows; WGSL `fn main()` (non-flat layout). */
export abstract class RowProgram implements WebGPUProgram {
  /** Inputs (and written extra outputs). */
  abstract variableNames: string[];
  /** Cache key. */
  abstract shaderKey: string;
  /** Program uniforms. */
  abstract uniforms: string;
  /** Output shape. */
  outputShape: number[];
  /** Non-flat layout so that `main()` takes no index. */
  dispatchLayout = { x: [0], y: [1] };
  /** `groups` workgroups, folded under the device's per-dimension `limit`. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number];

  /** `groups` workgroups of `threads` threads writing `outputShape`. */
  constructor(outputShape: number[], groups: number, threads: number, limit: number) {
    this.outputShape = outputShape;
    this.dispatch = gridFor(groups, limit);
    this.workgroupSize = [threads, 1, 1];
  }

  /** WGSL user code. */
  abstract getUserCode(): string;
}
