/**
 * SigLIP's pairwise sigmoid loss over the similarity matrix `g = I·Tᵀ`
 * (`losses/siglip.ts`), fused on WebGPU. With logits `ℓ = s·g + b` and labels
 * `z = +1` on the diagonal, `−1` elsewhere (or, given a positive mask M
 * `[B, C]` — UniCL's same-group pairs — `z = 2M − 1`):
 *
 * - forward, one workgroup per row: `rᵢ = (1/B) Σⱼ softplus(−zᵢⱼ ℓᵢⱼ)`; the
 *   loss is `Σᵢ rᵢ`;
 * - backward, one workgroup per row: `dℓ = dy/B · (−z)·σ(−z ℓ)`,
 *   `dg = s·dℓ`, and each row's `Σⱼ dℓ·g` and `Σⱼ dℓ` (the gradients of s and
 *   b once summed over rows).
 *
 * The composition (scale, add, labels, multiply, negate, softplus, sum,
 * divide and their gradients) took ~20 dispatches; this takes 2 + 1 forward
 * and 1 + 2 backward beside the similarity matmul and its gradients.
 * softplus and σ are computed without overflow (`exp(−|x|)` only) and
 * `log(1 + u)` is replaced by its series for small `u`, where fp32's `1 + u`
 * would round most of `u` away — the negatives' terms at SigLIP's
 * initialisation (ℓ ≈ −10) are 4.5·10⁻⁵ each.
 *
 * Kernels: `NovalabSigLipRows` (inputs `g`, `scale`, `bias`, optional
 * `positives`; output `[rows]`) and `NovalabSigLipGrad` (inputs `g`, `scale`,
 * `bias`, `dy`, optional `positives`; outputs `dg` and the per-row `[rows]`
 * sums for s and b).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Scalar, Tensor, Tensor1D } from "../core/tensor.ts";
import { ROW_PRELUDE, rowWorkgroupSize, workgroupSumSnippet } from "./row_reduce.ts";
import { RowProgram } from "./program_base.ts";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";
import { runCustomGradOp } from "./custom_grad.ts";
import { novalabKernelsActive } from "./active.ts";

/** Kernel name of the forward pass. */
export const SIGLIP_ROWS = "NovalabSigLipRows";
/** Kernel name of the backward pass. */
export const SIGLIP_GRAD = "NovalabSigLipGrad";

const WHERE = "kernels/siglip.ts";

/**
 * WGSL: `nlSoftplus(x)` = log(1 + eˣ) and `nlSigmoid(x)`, both through
 * `exp(−|x|)` only; `log(1 + u)` by its series below 10⁻³ (error < u⁴/4).
 */
const SOFTPLUS_WGSL = `
fn nlLog1p(u: f32) -> f32 {
  if (u < 1e-3) { return u * (1.0 - u * (0.5 - u / 3.0)); }
  return log(1.0 + u);
}
fn nlSoftplus(x: f32) -> f32 { return max(x, 0.0) + nlLog1p(exp(-abs(x))); }
fn nlSigmoid(x: f32) -> f32 {
  let e = exp(-abs(x));
  return select(e, 1.0, x >= 0.0) / (1.0 + e);
}`;

/**
 * One workgroup per row of `g` `[rows, cols]`; `backward` selects the gradient
 * program (output `[rows, cols]`, else `[rows]`); `labelled` reads the labels
 * from a positive mask `[rows, cols]` instead of the diagonal.
 */
export class NovalabSigLipProgram extends RowProgram {
  /** Inputs (backward: `sRows`, `bRows` are written). */
  variableNames: string[];
  /** Cache key. */
  shaderKey: string;
  /** Program uniforms (`dim` = cols; `invRows` = 1/B). */
  uniforms = "rows : i32, dim : i32, invRows : f32,";

  /** Builds the program for `rows × cols`; `limit` is the device's workgroups-per-dimension. */
  constructor(
    rows: number,
    cols: number,
    limit: number,
    readonly backward: boolean,
    readonly labelled = false,
  ) {
    super(backward ? [rows, cols] : [rows], rows, rowWorkgroupSize(cols), limit);
    const mask = labelled ? ["positives"] : [];
    // The written `sRows`, `bRows` come last: runWithExtraOutputs appends them after the inputs.
    this.variableNames = backward
      ? ["g", "scale", "bias", "dy", ...mask, "sRows", "bRows"]
      : ["g", "scale", "bias", ...mask];
    this.shaderKey = `novalabSigLip_${this.workgroupSize[0]}_${backward ? "grad" : "forward"}` +
      (labelled ? "_labelled" : "");
  }

  /** WGSL user code. */
  getUserCode(): string {
    const size = this.workgroupSize[0];
    const positive = this.labelled ? "positives[base + j] > 0.5" : "j == row";
    const logit = `let l = s * g[base + j] + b; let z = select(-1.0, 1.0, ${positive});`;
    const body = this.backward
      ? `let k = dy[0] * uniforms.invRows;
  var sums = vec2<f32>(0.0);
  if (valid) {
    for (var j = t; j < D; j += ${size}) {
      ${logit}
      let dl = -z * k * nlSigmoid(-z * l);
      result[base + j] = s * dl;
      sums += vec2<f32>(dl * g[base + j], dl);
    }
  }
  let total = nlReduce(sums);
  if (valid && t == 0) { sRows[row] = total.x; bRows[row] = total.y; }`
      : `var acc = 0.0;
  if (valid) { for (var j = t; j < D; j += ${size}) { ${logit} acc += nlSoftplus(-z * l); } }
  let total = nlReduce(vec2<f32>(acc, 0.0)).x;
  if (valid && t == 0) { result[row] = total * uniforms.invRows; }`;
    return `
${this.backward ? readWriteLine(["sRows", "bRows"]) : ""}
${SOFTPLUS_WGSL}
${workgroupSumSnippet(size)}
fn main() {
  ${ROW_PRELUDE}
  let s = scale[0];
  let b = bias[0];
  ${body}
}`;
  }
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
}

function geometry(args: Args, names: string[]): { rows: number; cols: number } {
  const g = args.inputs["g"];
  if (!g || g.dtype !== "float32" || g.shape.length !== 2 || g.shape.includes(0)) {
    throw new Error(
      `${WHERE}: g must be a non-empty float32 matrix [rows, cols], got ` +
        (g ? `${g.dtype} [${g.shape.join(", ")}]` : "nothing"),
    );
  }
  for (const name of names) {
    const t = args.inputs[name];
    if (!t || t.dtype !== "float32" || tf.util.sizeFromShape(t.shape) !== 1) {
      throw new Error(
        `${WHERE}: ${name} must be a float32 scalar, got ` +
          (t ? `${t.dtype} [${t.shape.join(", ")}]` : "nothing"),
      );
    }
  }
  return { rows: g.shape[0]!, cols: g.shape[1]! };
}

function uniforms(rows: number, cols: number) {
  return [
    { type: "int32" as const, data: [rows] },
    { type: "int32" as const, data: [cols] },
    { type: "float32" as const, data: [1 / rows] },
  ];
}

/** The optional positive mask, checked against `g`'s shape. */
function positivesOf(args: Args, rows: number, cols: number): TensorInfo[] {
  const m = args.inputs["positives"];
  if (!m) return [];
  if (m.dtype !== "float32" || m.shape.join() !== `${rows},${cols}`) {
    throw new Error(
      `${WHERE}: positives must be float32 [${rows}, ${cols}] like g, got ` +
        `${m.dtype} [${m.shape.join(", ")}]`,
    );
  }
  return [m];
}

function runRows(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const { rows, cols } = geometry(args, ["scale", "bias"]);
  const { g, scale, bias } = args.inputs;
  const mask = positivesOf(args, rows, cols);
  return backend.runWebGPUProgram(
    new NovalabSigLipProgram(
      rows,
      cols,
      backend.device.limits.maxComputeWorkgroupsPerDimension,
      false,
      mask.length > 0,
    ),
    [g!, scale!, bias!, ...mask],
    "float32",
    uniforms(rows, cols),
  );
}

function runGrad(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const { rows, cols } = geometry(args, ["scale", "bias", "dy"]);
  const { g, scale, bias, dy } = args.inputs;
  const mask = positivesOf(args, rows, cols);
  return runWithExtraOutputs(
    backend,
    new NovalabSigLipProgram(
      rows,
      cols,
      backend.device.limits.maxComputeWorkgroupsPerDimension,
      true,
      mask.length > 0,
    ),
    [g!, scale!, bias!, dy!, ...mask],
    [[rows], [rows]],
    uniforms(rows, cols),
  );
}

/** Kernel configs of both passes (webgpu). */
export function sigLipKernelConfigs(): KernelConfig[] {
  return [
    {
      kernelName: SIGLIP_ROWS,
      backendName: "webgpu",
      kernelFunc: runRows as unknown as KernelFunc,
    },
    {
      kernelName: SIGLIP_GRAD,
      backendName: "webgpu",
      kernelFunc: runGrad as unknown as KernelFunc,
    },
  ];
}

/** Whether {@linkcode fusedSigLip} runs (WebGPU with novalab's kernels, a non-empty float32 matrix). */
export function fusedSigLipActive(similarity: Tensor): boolean {
  return novalabKernelsActive() && similarity.dtype === "float32" && similarity.rank === 2 &&
    similarity.size > 0;
}

/**
 * `(1/B) Σᵢⱼ softplus(−zᵢⱼ (s·gᵢⱼ + b))` of the similarity matrix `g` `[B, C]`
 * (positives where `i = j`, or where the constant mask `positives` `[B, C]`
 * is 1), differentiable in `g`, `s` and `b`; one row kernel each way (check
 * {@linkcode fusedSigLipActive} first).
 */
export function fusedSigLip(
  similarity: Tensor,
  scale: Scalar,
  bias: Scalar,
  positives?: Tensor,
): Scalar {
  const mask: Record<string, Tensor> = positives ? { positives } : {};
  return runCustomGradOp<Scalar>({
    inputs: { g: similarity, scale, bias },
    forwardFunc: (_backend, save) => {
      const rows = tf.engine().runKernel(SIGLIP_ROWS, {
        g: similarity,
        scale,
        bias,
        ...mask,
      }) as Tensor1D;
      save([similarity, scale, bias, ...(positives ? [positives] : [])]);
      const loss = tf.sum(rows) as Scalar;
      rows.dispose();
      return loss;
    },
    backwardsFunc: (dy, saved) => {
      const [g, s, b, m] = saved as [Tensor, Scalar, Scalar, Tensor | undefined];
      const [dg, sRows, bRows] = tf.engine().runKernel(
        SIGLIP_GRAD,
        { g, scale: s, bias: b, dy, ...(m ? { positives: m } : {}) },
      ) as unknown as [Tensor, Tensor1D, Tensor1D];
      return {
        g: () => dg,
        scale: () => tf.sum(sRows),
        bias: () => tf.sum(bRows),
      };
    },
  });
}
