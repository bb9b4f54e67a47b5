/**
 * Backward WGSL programs of the fused WebGPU self-attention, from the per-query
 * log-sum-exp `ℓ` the forward program wrote (`kernels/attention_programs.ts`)
 * and `δ = dO·O`, with `P = exp(S − ℓ)`, `S = QKᵀ/√d`:
 *
 * - dQ: `dQ = (1/√d) Σⱼ Pᵢⱼ(dOᵢ·Vⱼ − δᵢ) Kⱼ` → `[N, T, D]`; a thread per query,
 *   key/value tiles streamed. It computes its query's `δᵢ` from dO and O and
 *   writes `[ℓᵢ, δᵢ]` (extra output `stats`, `[N·H, T, 2]`) for dK/dV, so the
 *   backward pass is two dispatches and never recomputes the scores' ℓ.
 * - dK/dV: `dK = (1/√d) Σᵢ dSᵢⱼ Qᵢ`, `dV = Σᵢ Pᵢⱼ dOᵢ`; a thread per key,
 *   query/dO tiles streamed; written with the given dQ into the one
 *   `[N, T, 3D]` gradient of the QKV projection.
 * - Split alternative (`NOVALAB_ATTENTION_SPLIT_KV=1`): dV alone, then dK with
 *   dQ and that dV given — two rows fewer per thread in each (k, dv; k, v, dk
 *   instead of k, v, dk, dv: 256 floats at d = 64, over NVIDIA's 255
 *   registers), for one more dispatch and the scores computed twice.
 *
 * @module
 */
import { readWriteLine } from "./extra_outputs.ts";
import {
  type AttentionGeometry,
  AttentionProgram,
  KEYS,
  type Stream,
  VALUES,
} from "./attention_programs.ts";

/** Query rows of the QKV projection, pre-scaled by 1/√d. */
const SCALED_QUERIES: Stream = {
  name: "q",
  vec: true,
  read: (j, c) => `(qkv[(n * T + ${j}) * R4 + h * V4 + ${c}] * scale)`,
};

/** Rows of the output gradient dO. */
const OUTPUT_GRADS: Stream = {
  name: "g",
  vec: true,
  read: (j, c) => `dy[(n * T + ${j}) * D4 + h * V4 + ${c}]`,
};

/** Per-query log-sum-exp (column 0 of the statistics). */
const LOG_SUM_EXP: Stream = {
  name: "lse",
  vec: false,
  read: (j) => `stats[((n * uniforms.heads + h) * T + ${j}) * 2]`,
};

/** Per-query `δ = dO·O` (column 1 of the statistics). */
const DELTAS: Stream = {
  name: "delta",
  vec: false,
  read: (j) => `stats[((n * uniforms.heads + h) * T + ${j}) * 2 + 1]`,
};

/** A backward program reading `qkv`, `dy` and the statistics, writing `[N, T, D]` (vec4). */
abstract class HeadRowsGradProgram extends AttentionProgram {
  /** `[N, T, D]`. */
  outputShape: number[];
  /** Inputs. */
  variableNames = this.inputs("qkv", "dy", "stats");
  /** vec4 reads except the per-row statistics. */
  variableComponents = this.components(4, 4, 1);
  /** vec4 writes. */
  outputComponent = 4;

  /** Builds the program for geometry `g` (`kind` names it in the shader key). */
  constructor(g: AttentionGeometry, kind: string) {
    super(g, kind);
    this.outputShape = [g.n, g.t, g.heads * g.dh];
  }
}

/** `dQ` → `[N, T, D]` (vec4 output), and `stats` `[N·H, T, 2]` = `[ℓ, δ]` (written). */
export class NovalabAttentionGradQueryProgram extends HeadRowsGradProgram {
  /** Inputs (ℓ from the forward pass and O, for δ), then the written statistics. */
  override variableNames = [...this.inputs("qkv", "dy", "logSumExp", "o"), "stats"];
  /** vec4 reads except the per-row values. */
  override variableComponents = [...this.components(4, 4, 1, 4), 1];

  /** Builds the program for geometry `g`. */
  constructor(g: AttentionGeometry) {
    super(g, "dq");
  }

  /** WGSL user code. */
  getUserCode(): string {
    const body = `${this.scores("q", KEYS, this.streamedKeyBias())}
      var dp0 = 0.0; var dp1 = 0.0; var dp2 = 0.0; var dp3 = 0.0;
      ${this.dots("dp", "g", VALUES)}
      let ds0 = exp(s0 - lse) * (dp0 - delta); let ds1 = exp(s1 - lse) * (dp1 - delta);
      let ds2 = exp(s2 - lse) * (dp2 - delta); let ds3 = exp(s3 - lse) * (dp3 - delta);
      ${this.accumulate("dq", "ds", KEYS)}`;
    return `${readWriteLine(["stats"])}
${this.tiles(...this.keyStreams(KEYS, VALUES))}
fn main() {
  ${this.prelude()}
  ${this.row("q", (c) => `qkv[qkvRow + ${c}] * scale`)}
  ${this.row("g", (c) => `dy[outRow + ${c}]`)}
  ${this.row("dq", () => "vec4<f32>(0.0)")}
  let at = (n * uniforms.heads + h) * T + ic;
  let lse = logSumExp[at];
  var delta = 0.0;
  ${this.forC((c) => `delta += dot(g[${c}], o[outRow + ${c}]);`)}
  ${this.tileLoop(this.keyStreams(KEYS, VALUES), body)}
  if (valid) {
    ${this.forC((c) => `result[outRow + ${c}] = dq[${c}] * scale;`)}
    stats[at * 2] = lse;
    stats[at * 2 + 1] = delta;
  }
}`;
  }
}

/** `dV` alone → `[N, T, D]` (vec4 output), the first half of the split backward. */
export class NovalabAttentionGradValueProgram extends HeadRowsGradProgram {
  /** Builds the program for geometry `g`. */
  constructor(g: AttentionGeometry) {
    super(g, "dv");
  }

  /** WGSL user code: this thread's row is a key; queries and their dO stream. */
  getUserCode(): string {
    const lse = (r: number) => this.at(LOG_SUM_EXP, `jj + ${r}`);
    const body = `${this.scores("k", SCALED_QUERIES, this.g.keyBias ? () => "kb" : undefined)}
      ${[0, 1, 2, 3].map((r) => `let p${r} = exp(s${r} - ${lse(r)});`).join(" ")}
      ${this.accumulate("dv", "p", OUTPUT_GRADS)}`;
    const streams = [SCALED_QUERIES, OUTPUT_GRADS, LOG_SUM_EXP];
    return `${this.tiles(...streams)}
fn main() {
  ${this.prelude()}
  ${this.row("k", (c) => `qkv[qkvRow + D4 + ${c}]`)}
  ${this.row("dv", () => "vec4<f32>(0.0)")}
  ${this.g.keyBias ? "let kb = keyBias[n * T + ic];" : ""}
  ${this.tileLoop(streams, body)}
  if (valid) {
    ${this.forC((c) => `result[outRow + ${c}] = dv[${c}];`)}
  }
}`;
  }
}

/**
 * `dK`, `dV` and the given `dQ` → the `[N, T, 3D]` QKV gradient (vec4 output);
 * with `dvGiven`, dV is an input too (the split backward's second half).
 */
export class NovalabAttentionGradKeyValueProgram extends AttentionProgram {
  /** `[N, T, 3D]`. */
  outputShape: number[];
  /** Inputs. */
  variableNames: string[];
  /** vec4 reads except the per-row statistics. */
  variableComponents: number[];
  /** vec4 writes. */
  outputComponent = 4;

  /** Builds the program for geometry `g`. */
  constructor(g: AttentionGeometry, readonly dvGiven = false) {
    super(g, dvGiven ? "dk" : "dkv");
    this.outputShape = [g.n, g.t, 3 * g.heads * g.dh];
    this.variableNames = dvGiven
      ? this.inputs("qkv", "dy", "stats", "dq", "dv")
      : this.inputs("qkv", "dy", "stats", "dq");
    this.variableComponents = dvGiven
      ? this.components(4, 4, 1, 4, 4)
      : this.components(4, 4, 1, 4);
  }

  /**
   * WGSL user code. This thread's row `i` is a key; the tiles stream queries
   * (`qT`, pre-scaled by 1/√d, so `dK = Σ dS·qT`) and their `dO` (`gT`).
   */
  getUserCode(): string {
    const at = (stream: Stream, r: number) => this.at(stream, `jj + ${r}`);
    const body = `${this.scores("k", SCALED_QUERIES, this.g.keyBias ? () => "kb" : undefined)}
      ${[0, 1, 2, 3].map((r) => `let p${r} = exp(s${r} - ${at(LOG_SUM_EXP, r)});`).join(" ")}
      var dp0 = 0.0; var dp1 = 0.0; var dp2 = 0.0; var dp3 = 0.0;
      ${this.dots("dp", "v", OUTPUT_GRADS)}
      ${[0, 1, 2, 3].map((r) => `let ds${r} = p${r} * (dp${r} - ${at(DELTAS, r)});`).join(" ")}
      ${this.dvGiven ? "" : this.accumulate("dv", "p", OUTPUT_GRADS)}
      ${this.accumulate("dk", "ds", SCALED_QUERIES)}`;
    const streams = [SCALED_QUERIES, OUTPUT_GRADS, LOG_SUM_EXP, DELTAS];
    return `${this.tiles(...streams)}
fn main() {
  ${this.prelude()}
  ${this.row("k", (c) => `qkv[qkvRow + D4 + ${c}]`)}
  ${this.row("v", (c) => `qkv[qkvRow + 2 * D4 + ${c}]`)}
  ${this.row("dk", () => "vec4<f32>(0.0)")}
  ${this.dvGiven ? "" : this.row("dv", () => "vec4<f32>(0.0)")}
  ${this.g.keyBias ? "let kb = keyBias[n * T + ic];" : ""}
  ${this.tileLoop(streams, body)}
  if (valid) {
    ${
      this.forC((c) =>
        `result[qkvRow + ${c}] = dq[outRow + ${c}]; result[qkvRow + D4 + ${c}] = dk[${c}]; ` +
        `result[qkvRow + 2 * D4 + ${c}] = ${this.dvGiven ? `dv[outRow + ${c}]` : `dv[${c}]`};`
      )
    }
  }
}`;
  }
}

/** The split backward's second half: dK, with dQ and dV given. */
export class NovalabAttentionGradKeyProgram extends NovalabAttentionGradKeyValueProgram {
  /** Builds the program for geometry `g`. */
  constructor(g: AttentionGeometry) {
    super(g, true);
  }
}
