/**
 * WGSL programs of nCLIP's fused loss (`kernels/nclip.ts`). Image logits `V`
 * and text logits `T` `[N, K]`; `lp = ℓ/τ − lse(ℓ/τ)`, `p = e^lp`,
 * `q = softmax(ℓ/τ_t)`, `p̄ = mean_b p`, `L = ln max(p̄, 10⁻³⁰) + [p̄ > 10⁻³⁰]`:
 *
 * - `RowStats` (a workgroup per row b): the four log-sum-exps and the row sums
 *   `cV = −Σ qT·lpV`, `cT = −Σ qV·lpT`, `hV = −Σ pV·lpV`, `hT = −Σ pT·lpT`
 *   → `[N, 8]`;
 * - `ColumnMeans` (a thread per column of either modality): `p̄` → `[2K]`;
 * - `Finish` (one workgroup): `(w_c·Σ c + w_sh·Σ h)/N − w_sm·Σ H(p̄)`;
 * - `RowSmooth` (a workgroup per row): `sV = Σ_k pV·LV`, `sT` → `[N, 2]`;
 * - `Grad` (a thread per entry, both modalities): with
 *   `g = (−w_c·q_other − w_sh·p(lp + 1) + w_sm·L·p)/N` and its row sum
 *   `G = (−w_c − w_sh(1 − h) + w_sm·s)/N`, `dℓ = dy·[(g − p·G)/τ +
 *   q·(−w_c·lp_other/N − w_c·c_other/N)/τ_t]`, the last term dropped under
 *   stop-gradient.
 *
 * @module
 */
import { workgroupLseSnippet, workgroupSumSnippet } from "./row_reduce.ts";
import { FlatProgram, RowProgram } from "./program_base.ts";
import { readWriteLine } from "./extra_outputs.ts";

/** Threads per workgroup of every program here. */
const T = 256;
/** Entries of a row's statistics. */
export const NCLIP_ROW_STATS = 8;
const LOWEST = "-3.0e38";

/** Uniforms shared by every program (same order, so one list serves all). */
export const NCLIP_UNIFORMS =
  "rows : i32, cols : i32, tau : f32, tauT : f32, wc : f32, wsh : f32, wsm : f32, stopGrad : i32,";

/** WGSL: the log-sum-exp of one share per thread over the workgroup. */
const LSE = `${workgroupLseSnippet(T)}
fn nlLse(v : vec2<f32>) -> f32 {
  let total = nlCombineAll(v);
  return total.x + log(max(total.y, 1e-30));
}`;

/** `ln max(p̄, 10⁻³⁰) + [p̄ > 10⁻³⁰]`: the smoothness term's derivative, negated. */
const SMOOTH_L = `
fn nlL(pbar : f32) -> f32 { return log(max(pbar, 1e-30)) + select(0.0, 1.0, pbar > 1e-30); }`;

const ROW = `
  let b = i32(workgroupId.x) + i32(workgroupId.y) * i32(numWorkgroups.x);
  let valid = b < uniforms.rows;
  let K = uniforms.cols;
  let li = i32(localIndex);`;

/** Per row: four log-sum-exps, the cross and entropy row sums → `[N·8]`. */
export class NclipRowStatsProgram extends RowProgram {
  /** Image and text logits. */
  variableNames = ["image", "text"];
  /** Cache key. */
  shaderKey = "novalabNclipRowStats";
  /** {@linkcode NCLIP_UNIFORMS}. */
  uniforms = NCLIP_UNIFORMS;

  /** Builds the program for `rows` rows; `limit` bounds each grid dimension. */
  constructor(rows: number, limit: number) {
    super([rows * NCLIP_ROW_STATS], rows, T, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    const start = `vec2<f32>(${LOWEST}, 0.0)`;
    return `${LSE}
${workgroupSumSnippet(T)}
fn main() {
  ${ROW}
  var aPV = ${start}; var aQV = ${start}; var aPT = ${start}; var aQT = ${start};
  if (valid) {
    for (var k = li; k < K; k += ${T}) {
      let v = image[b * K + k];
      let t = text[b * K + k];
      aPV = nlCombine(aPV, vec2<f32>(v / uniforms.tau, 1.0));
      aQV = nlCombine(aQV, vec2<f32>(v / uniforms.tauT, 1.0));
      aPT = nlCombine(aPT, vec2<f32>(t / uniforms.tau, 1.0));
      aQT = nlCombine(aQT, vec2<f32>(t / uniforms.tauT, 1.0));
    }
  }
  let lsePV = nlLse(aPV);
  let lseQV = nlLse(aQV);
  let lsePT = nlLse(aPT);
  let lseQT = nlLse(aQT);
  var c = vec2<f32>(0.0, 0.0);
  var h = vec2<f32>(0.0, 0.0);
  if (valid) {
    for (var k = li; k < K; k += ${T}) {
      let v = image[b * K + k];
      let t = text[b * K + k];
      let lpV = v / uniforms.tau - lsePV;
      let lpT = t / uniforms.tau - lsePT;
      let qV = exp(v / uniforms.tauT - lseQV);
      let qT = exp(t / uniforms.tauT - lseQT);
      c -= vec2<f32>(qT * lpV, qV * lpT);
      h -= vec2<f32>(exp(lpV) * lpV, exp(lpT) * lpT);
    }
  }
  let cs = nlReduce(c);
  let hs = nlReduce(h);
  if (valid && li == 0) {
    let o = b * ${NCLIP_ROW_STATS};
    result[o] = lsePV; result[o + 1] = lseQV; result[o + 2] = lsePT; result[o + 3] = lseQT;
    result[o + 4] = cs.x; result[o + 5] = cs.y; result[o + 6] = hs.x; result[o + 7] = hs.y;
  }
}`;
  }
}

/** `p̄` of both modalities → `[2K]`, one thread per column. */
export class NclipColumnMeansProgram extends FlatProgram {
  /** Logits and row statistics. */
  variableNames = ["image", "text", "rowStats"];
  /** Cache key. */
  shaderKey = "novalabNclipColumnMeans";
  /** {@linkcode NCLIP_UNIFORMS}. */
  uniforms = NCLIP_UNIFORMS;

  /** Builds the program for `cols` prototypes (`[2K]`). */
  constructor(cols: number) {
    super(2 * cols);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `
fn main(index : i32) {
  let K = uniforms.cols;
  if (index >= 2 * K) { return; }
  let m = index / K;
  let k = index - m * K;
  var sum = 0.0;
  for (var b = 0; b < uniforms.rows; b++) {
    var x = 0.0;
    if (m == 0) { x = image[b * K + k]; } else { x = text[b * K + k]; }
    sum += exp(x / uniforms.tau - rowStats[b * ${NCLIP_ROW_STATS} + 2 * m]);
  }
  result[index] = sum / f32(uniforms.rows);
}`;
  }
}

/** The loss, one workgroup → `[1]`. */
export class NclipFinishProgram extends RowProgram {
  /** Row statistics and column means. */
  variableNames = ["rowStats", "pbar"];
  /** Cache key. */
  shaderKey = "novalabNclipFinish";
  /** {@linkcode NCLIP_UNIFORMS}. */
  uniforms = NCLIP_UNIFORMS;

  /** One workgroup. */
  constructor() {
    super([1], 1, T, 1);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${workgroupSumSnippet(T)}
fn main() {
  let li = i32(localIndex);
  var ch = vec2<f32>(0.0, 0.0);
  for (var b = li; b < uniforms.rows; b += ${T}) {
    let o = b * ${NCLIP_ROW_STATS};
    ch += vec2<f32>(rowStats[o + 4] + rowStats[o + 5], rowStats[o + 6] + rowStats[o + 7]);
  }
  var entropy = 0.0;
  for (var k = li; k < 2 * uniforms.cols; k += ${T}) {
    let pb = pbar[k];
    entropy -= pb * log(max(pb, 1e-30));
  }
  let sums = nlReduce(ch);
  let entropySum = nlReduce(vec2<f32>(entropy, 0.0)).x;
  if (li == 0) {
    let n = f32(uniforms.rows);
    result[0] = (uniforms.wc * sums.x + uniforms.wsh * sums.y) / n - uniforms.wsm * entropySum;
  }
}`;
  }
}

/** Per row: `Σ_k p·L` for both modalities → `[N·2]`. */
export class NclipRowSmoothProgram extends RowProgram {
  /** Logits, row statistics, column means. */
  variableNames = ["image", "text", "rowStats", "pbar"];
  /** Cache key. */
  shaderKey = "novalabNclipRowSmooth";
  /** {@linkcode NCLIP_UNIFORMS}. */
  uniforms = NCLIP_UNIFORMS;

  /** Builds the program for `rows` rows (`[N·2]`); `limit` bounds each grid dimension. */
  constructor(rows: number, limit: number) {
    super([2 * rows], rows, T, limit);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${SMOOTH_L}
${workgroupSumSnippet(T)}
fn main() {
  ${ROW}
  var s = vec2<f32>(0.0, 0.0);
  if (valid) {
    let o = b * ${NCLIP_ROW_STATS};
    for (var k = li; k < K; k += ${T}) {
      let pV = exp(image[b * K + k] / uniforms.tau - rowStats[o]);
      let pT = exp(text[b * K + k] / uniforms.tau - rowStats[o + 2]);
      s += vec2<f32>(pV * nlL(pbar[k]), pT * nlL(pbar[K + k]));
    }
  }
  let total = nlReduce(s);
  if (valid && li == 0) { result[2 * b] = total.x; result[2 * b + 1] = total.y; }
}`;
  }
}

/** Both logits' gradients, one thread per entry; `dText` is written. */
export class NclipGradProgram extends FlatProgram {
  /** Logits, statistics, the loss's gradient; `dText` is written. */
  variableNames = ["image", "text", "rowStats", "pbar", "rowSmooth", "dy", "dText"];
  /** Cache key. */
  shaderKey = "novalabNclipGrad";
  /** {@linkcode NCLIP_UNIFORMS}. */
  uniforms = NCLIP_UNIFORMS;

  /** Builds the program for `[rows, cols]` logits (`[N·K]`: the image logits' gradient). */
  constructor(rows: number, cols: number) {
    super(rows * cols);
  }

  /** WGSL user code. */
  getUserCode(): string {
    return `${SMOOTH_L}
${readWriteLine(["dText"])}
fn main(index : i32) {
  let K = uniforms.cols;
  if (index >= uniforms.rows * K) { return; }
  let b = index / K;
  let k = index - b * K;
  let n = f32(uniforms.rows);
  let o = b * ${NCLIP_ROW_STATS};
  let v = image[index];
  let t = text[index];
  let lpV = v / uniforms.tau - rowStats[o];
  let lpT = t / uniforms.tau - rowStats[o + 2];
  let pV = exp(lpV);
  let pT = exp(lpT);
  let qV = exp(v / uniforms.tauT - rowStats[o + 1]);
  let qT = exp(t / uniforms.tauT - rowStats[o + 3]);
  let cV = rowStats[o + 4];
  let cT = rowStats[o + 5];
  let wc = uniforms.wc;
  let wsh = uniforms.wsh;
  let wsm = uniforms.wsm;
  let gV = (-wc * qT - wsh * pV * (lpV + 1.0) + wsm * nlL(pbar[k]) * pV) / n;
  let gT = (-wc * qV - wsh * pT * (lpT + 1.0) + wsm * nlL(pbar[K + k]) * pT) / n;
  let sumV = (-wc - wsh * (1.0 - rowStats[o + 6]) + wsm * rowSmooth[2 * b]) / n;
  let sumT = (-wc - wsh * (1.0 - rowStats[o + 7]) + wsm * rowSmooth[2 * b + 1]) / n;
  var dV = (gV - pV * sumV) / uniforms.tau;
  var dT = (gT - pT * sumT) / uniforms.tau;
  if (uniforms.stopGrad == 0) {
    dV += qV * (-wc * lpT / n - wc * cT / n) / uniforms.tauT;
    dT += qT * (-wc * lpV / n - wc * cV / n) / uniforms.tauT;
  }
  result[index] = dy[0] * dV;
  dText[index] = dy[0] * dT;
}`;
  }
}
