/**
 * The fused attention's forward program (`kernels/attention_programs.ts` has
 * the shared layout and WGSL blocks): `O = softmax(QKᵀ/√d)V` with a running
 * max and sum → `[N, T, D]`, and per query the log-sum-exp `ℓ` of its scores
 * (extra output `lse`, `[N·H, T]`) for the backward pass.
 *
 * @module
 */
import { readWriteLine } from "./extra_outputs.ts";
import { type AttentionGeometry, AttentionProgram, KEYS, VALUES } from "./attention_programs.ts";

/** `O = softmax(QKᵀ/√d)V` → `[N, T, D]` (vec4 output) and `lse` `[N·H, T]` (written). */
export class NovalabAttentionForwardProgram extends AttentionProgram {
  /** `[N, T, D]`. */
  outputShape: number[];
  /** Inputs, then the written log-sum-exps. */
  variableNames = [...this.inputs("qkv"), "lse"];
  /** vec4 reads. */
  variableComponents = [...this.components(4), 1];
  /** vec4 writes. */
  outputComponent = 4;

  /** Builds the program for geometry `g`. */
  constructor(g: AttentionGeometry) {
    super(g, "forward");
    this.outputShape = [g.n, g.t, g.heads * g.dh];
  }

  /** WGSL user code. */
  getUserCode(): string {
    const body = `${this.scores("q", KEYS, this.streamedKeyBias())}
      let mNew = max(m, max(max(s0, s1), max(s2, s3)));
      let corr = exp(m - mNew);
      let p0 = exp(s0 - mNew); let p1 = exp(s1 - mNew);
      let p2 = exp(s2 - mNew); let p3 = exp(s3 - mNew);
      l = l * corr + p0 + p1 + p2 + p3;
      ${this.accumulate("o", "p", VALUES, "corr")}
      m = mNew;`;
    return `${readWriteLine(["lse"])}
${this.tiles(...this.keyStreams(KEYS, VALUES))}
fn main() {
  ${this.prelude()}
  ${this.row("q", (c) => `qkv[qkvRow + ${c}] * scale`)}
  ${this.row("o", () => "vec4<f32>(0.0)")}
  var m = -3.0e38;
  var l = 0.0;
  ${this.tileLoop(this.keyStreams(KEYS, VALUES), body)}
  if (valid) {
    let inv = 1.0 / l;
    ${this.forC((c) => `result[outRow + ${c}] = o[${c}] * inv;`)}
    lse[(n * uniforms.heads + h) * T + i] = m + log(l);
  }
}`;
  }
}
