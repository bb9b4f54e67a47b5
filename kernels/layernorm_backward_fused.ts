/**
 * LayerNorm backward in one pass over x and dy, `NovalabLayerNormBackward`:
 * dx and the chunked column sums of `dy·x̂` and `dy` (dγ and dβ before their
 * final sum) from the same dispatch, instead of `NovalabLayerNormGradX` and
 * `NovalabLayerNormGradParamsPartial` reading x, dy and the statistics twice
 * (`kernels/layernorm_backward.ts`, which keeps both for rows too wide here).
 *
 * A workgroup walks `rowsPerGroup` consecutive rows. Each thread owns the
 * columns `t, t + size, …` (`columnsPerThread` of them, unrolled into named
 * registers): per row it loads `g = dy·γ` and `x̂`, the workgroup sums
 * `mean(g)` and `mean(g·x̂)`, and the thread writes
 * `dx = rstd·(g − mean(g) − x̂·mean(g·x̂)) [+ dSkip]` from its registers while
 * adding `dy·x̂` and `dy` to its columns' sums, which it stores once per
 * workgroup into `partial[group, 0|1, column]`.
 *
 * @module
 */
import type { TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { gridFor, rowWorkgroupSize, workgroupSumSnippet } from "./row_reduce.ts";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";
import { layerNormBackwardForm } from "./layernorm_tuning.ts";

/** Most columns a thread keeps in registers; wider rows take the two-kernel path. */
export const MAX_COLUMNS_PER_THREAD = 16;

export { rowsPerGroup } from "./layernorm_tuning.ts";

/** Columns each thread of a row workgroup owns for rows of width `dim`. */
export function columnsPerThread(dim: number): number {
  return Math.ceil(dim / rowWorkgroupSize(dim));
}

/** dx (result) and `partial` `[groups, 2, dim]` (written), `rowsPerGroup` rows per workgroup. */
export class NovalabLayerNormBackwardProgram implements WebGPUProgram {
  /** Inputs, then the written `partial`. */
  variableNames: string[];
  /** `[rows, dim]`. */
  outputShape: number[];
  /** Cache key. */
  shaderKey: string;
  /** Non-flat layout so that `main()` takes no index. */
  dispatchLayout = { x: [0], y: [1] };
  /** One workgroup per `rowsPerGroup` rows. */
  dispatch: [number, number, number];
  /** Threads per workgroup. */
  workgroupSize: [number, number, number];
  /** Program uniforms. */
  uniforms = "rows : i32, dim : i32, rowsPerGroup : i32,";
  readonly #columns: number;

  /** Builds the program for `rows × dim`; `skip` adds the `dSkip` input. */
  constructor(
    rows: number,
    dim: number,
    perGroup: number,
    limit: number,
    readonly skip: boolean,
  ) {
    this.outputShape = [rows, dim];
    const size = rowWorkgroupSize(dim);
    this.#columns = columnsPerThread(dim);
    if (this.#columns > MAX_COLUMNS_PER_THREAD) {
      throw new Error(`kernels/layernorm_backward_fused.ts: rows of ${dim} are too wide`);
    }
    this.workgroupSize = [size, 1, 1];
    this.dispatch = gridFor(Math.ceil(rows / perGroup), limit);
    this.variableNames = ["x", "gamma", "dy", "stats", ...(skip ? ["dSkip"] : []), "partial"];
    this.shaderKey = `novalabLayerNormBackward_${size}_${this.#columns}${skip ? "_skip" : ""}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const size = this.workgroupSize[0];
    const cols = Array.from({ length: this.#columns }, (_, c) => c);
    const each = (f: (c: number) => string) => cols.map(f).join("\n    ");
    return `${workgroupSumSnippet(size)}
${readWriteLine(["partial"])}
fn main() {
  let group = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let D = uniforms.dim;
  let t = i32(localIndex);
  ${each((c) => `let j${c} = t + ${c * size}; let in${c} = j${c} < D;`)}
  ${each((c) => `var gm${c} = 0.0; if (in${c}) { gm${c} = gamma[j${c}]; }`)}
  ${each((c) => `var sg${c} = 0.0; var sb${c} = 0.0; var g${c} = 0.0; var xh${c} = 0.0;`)}
  for (var i = 0; i < uniforms.rowsPerGroup; i++) {
    let row = group * uniforms.rowsPerGroup + i;
    let valid = row < uniforms.rows;
    let base = row * D;
    var mean = 0.0; var rstd = 0.0;
    if (valid) { mean = stats[row * 2]; rstd = stats[row * 2 + 1]; }
    var acc = vec2<f32>(0.0);
    ${
      each((c) =>
        `if (valid && in${c}) { let d = dy[base + j${c}]; g${c} = d * gm${c};
      xh${c} = (x[base + j${c}] - mean) * rstd; acc += vec2<f32>(g${c}, g${c} * xh${c});
      sg${c} += d * xh${c}; sb${c} += d; }`
      )
    }
    let m = nlReduce(acc) / f32(D);
    ${
      each((c) =>
        `if (valid && in${c}) { result[base + j${c}] = rstd * (g${c} - m.x - xh${c} * m.y)${
          this.skip ? ` + dSkip[base + j${c}]` : ""
        }; }`
      )
    }
  }
  if (group * uniforms.rowsPerGroup < uniforms.rows) {
    ${
      each((c) =>
        `if (in${c}) { partial[group * 2 * D + j${c}] = sg${c}; partial[(group * 2 + 1) * D + j${c}] = sb${c}; }`
      )
    }
  }
}`;
  }
}

export { LAYER_NORM_BACKWARD_ENV } from "./layernorm_tuning.ts";

/**
 * dx and the chunked `[groups, 2, dim]` column sums of `dy·x̂`, `dy` from one
 * dispatch, or `null` when rows are wider than the registers allow or the
 * two-kernel form is asked for (`kernels/layernorm_tuning.ts`: tuned, or
 * `NOVALAB_LAYERNORM_BACKWARD=split`; the caller then takes the two-kernel
 * path). Inputs as `NovalabLayerNormGradX`'s.
 */
export function runLayerNormBackward(
  backend: WebGPUBackend,
  inputs: {
    x: TensorInfo;
    gamma: TensorInfo;
    dy: TensorInfo;
    stats: TensorInfo;
    dSkip?: TensorInfo;
  },
  rows: number,
  dim: number,
): [TensorInfo, TensorInfo] | null {
  if (columnsPerThread(dim) > MAX_COLUMNS_PER_THREAD) return null;
  const perGroup = layerNormBackwardForm({ rows, dim, skip: inputs.dSkip !== undefined });
  if (perGroup === 0) return null;
  const groups = Math.ceil(rows / perGroup);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  const m = (t: TensorInfo, shape: number[]) => ({ ...t, shape });
  const list = [
    m(inputs.x, [rows, dim]),
    m(inputs.gamma, [dim]),
    m(inputs.dy, [rows, dim]),
    m(inputs.stats, [rows, 2]),
  ];
  if (inputs.dSkip) list.push(m(inputs.dSkip, [rows, dim]));
  const int = (v: number) => ({ type: "int32" as const, data: [v] });
  const [dx, partial] = runWithExtraOutputs(
    backend,
    new NovalabLayerNormBackwardProgram(rows, dim, perGroup, limit, inputs.dSkip !== undefined),
    list,
    [[groups, 2, dim]],
    [int(rows), int(dim), int(perGroup)],
  );
  return [{ ...dx!, shape: [...inputs.x.shape] }, partial!];
}
