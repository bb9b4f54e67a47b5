/**
 * The row-block kernels of `kernels/wasm_rows.ts` — a linear layer's bias
 * gradient (column sums, with the ReLU mask) and LayerNorm's backward pass —
 * cut over the WASM helper threads with the bits of one thread. Their column
 * sums run in blocks of {@linkcode ROW_BLOCK} rows, each block's sum added
 * into the total in order; a thread takes whole blocks (row ranges aligned to
 * the block), leaves each block's sums in its own slot, and the caller adds
 * the slots in block order — the same float32 additions as one thread. The
 * per-row outputs (`dx`, the masked gradient) are disjoint row ranges.
 *
 * @module
 */
import { ROW_BLOCK } from "./wasm_rows.ts";
import type { WasmKernels } from "./wasm_runtime.ts";
import { cutRanges } from "./wasm_threads.ts";

/** Floats below which a row-block kernel runs on one thread (waking a helper costs microseconds). */
const MIN_SPLIT_FLOATS = 1 << 15;

/** Whether `rows` rows of `rowFloats` floats are cut over threads: helpers exist, work suffices. */
export function threadedRows(k: WasmKernels, rows: number, rowFloats: number): boolean {
  return k.threads !== undefined && rows > ROW_BLOCK && rows * rowFloats >= MIN_SPLIT_FLOATS;
}

/** One row-block kernel call cut over threads. */
export interface BlockPartsCall {
  /** The `_parts` export to run. */
  fn: "grad_prologue_parts" | "layer_norm_grad_parts";
  /** Rows in all. */
  rows: number;
  /** Floats of one block's sums (`cols` for a bias gradient, `2·d` for LayerNorm). */
  width: number;
  /** The export's arguments for rows `[start, start + count)` writing block sums at `parts`. */
  args: (start: number, count: number, parts: number) => number[];
  /** Addresses of the totals: `width / sums.length` floats each, in the order of a block's sums. */
  sums: number[];
}

/** Runs `call` over the threads, then adds the blocks' sums into the totals in block order. */
export function runBlockParts(k: WasmKernels, call: BlockPartsCall): void {
  const blocks = Math.ceil(call.rows / ROW_BLOCK);
  const parts = k.malloc(blocks * call.width * 4);
  try {
    k.threads!.parallel(
      call.fn,
      (threads) =>
        cutRanges(call.rows, threads, ROW_BLOCK).map(([start, count]) =>
          call.args(start, count, parts + (start / ROW_BLOCK) * call.width * 4)
        ),
    );
    const all = k.floats(parts, blocks * call.width);
    const n = call.width / call.sums.length;
    call.sums.forEach((at, i) => {
      const total = k.floats(at, n).fill(0);
      for (let b = 0; b < blocks; b++) {
        const from = b * call.width + i * n;
        // Float32Array stores round each f64 sum of two floats, which is exact: fl32(a + b).
        for (let j = 0; j < n; j++) total[j] = total[j]! + all[from + j]!;
      }
    });
  } finally {
    k.free(parts);
  }
}
