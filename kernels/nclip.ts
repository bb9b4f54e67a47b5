/**
 * nCLIP's loss `w_c·cross + w_sh·sharpness − w_sm·smoothness`
 * (`losses/nclip.ts`) on WebGPU in three dispatches forward and two backward
 * (programs and formulas in `kernels/nclip_programs.ts`) instead of the op
 * composition's ~200 for a `[256, 512]` pair of prototype logits (xCLIP and
 * nCLIP's steps were half loss).
 *
 * Kernels: `NovalabNclip` (inputs `image`, `text` `[N, K]`; attrs `tau`,
 * `tauT`, `wc`, `wsh`, `wsm`, `stopGradient`) → `[loss [1], rowStats [N·8],
 * pbar [2K]]`; `NovalabNclipGrad` (the same plus `rowStats`, `pbar`, `dy`) →
 * `[dImage, dText]`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Scalar, Tensor } from "../core/tensor.ts";
import { runCustomGradOp, webgpuKernelConfigs } from "./custom_grad.ts";
import { runWithExtraOutputs } from "./extra_outputs.ts";
import {
  NclipColumnMeansProgram,
  NclipFinishProgram,
  NclipGradProgram,
  NclipRowSmoothProgram,
  NclipRowStatsProgram,
} from "./nclip_programs.ts";

/** Kernel name of the forward pass. */
export const NCLIP = "NovalabNclip";
/** Kernel name of the backward pass. */
export const NCLIP_GRAD = "NovalabNclipGrad";

/** Temperatures, weights and the target stop-gradient of {@linkcode nclipFused}. */
export interface NclipKernelOptions {
  /** τ of the predictions. */
  tau: number;
  /** τ_t of the targets. */
  tauT: number;
  /** Cross weight w_c. */
  wc: number;
  /** Sharpness weight w_sh. */
  wsh: number;
  /** Smoothness weight w_sm (subtracted). */
  wsm: number;
  /** No gradient through the targets. */
  stopGradient: boolean;
}

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function setup(args: Args) {
  const { image, text } = args.inputs;
  const [rows, cols] = image?.shape ?? [];
  if (
    !image || !text || image.dtype !== "float32" || text.dtype !== "float32" ||
    image.shape.length !== 2 || !tf.util.arraysEqual(image.shape, text.shape) || !rows || !cols
  ) {
    throw new Error(
      "kernels/nclip.ts: image and text must be float32 logits of one shape [N, K], got " +
        `${image ? `[${image.shape}]` : "nothing"} and ${text ? `[${text.shape}]` : "nothing"}`,
    );
  }
  const a = args.attrs ?? {};
  const f = (k: string) => ({ type: "float32", data: [Number(a[k])] });
  const uniforms = [
    { type: "int32", data: [rows] },
    { type: "int32", data: [cols] },
    ...["tau", "tauT", "wc", "wsh", "wsm"].map(f),
    { type: "int32", data: [a["stopGradient"] ? 1 : 0] },
  ];
  const backend = args.backend as WebGPUBackend;
  return {
    backend,
    image,
    text,
    rows,
    cols,
    uniforms,
    limit: backend.device.limits.maxComputeWorkgroupsPerDimension,
  };
}

function runForward(args: Args): TensorInfo[] {
  const { backend, image, text, rows, cols, uniforms, limit } = setup(args);
  const stats = backend.runWebGPUProgram(
    new NclipRowStatsProgram(rows, limit),
    [image, text],
    "float32",
    uniforms,
  );
  const pbar = backend.runWebGPUProgram(
    new NclipColumnMeansProgram(cols),
    [image, text, stats],
    "float32",
    uniforms,
  );
  const loss = backend.runWebGPUProgram(
    new NclipFinishProgram(),
    [stats, pbar],
    "float32",
    uniforms,
  );
  return [loss, stats, pbar];
}

function runBackward(args: Args): TensorInfo[] {
  const { backend, image, text, rows, cols, uniforms, limit } = setup(args);
  const { rowStats, pbar, dy } = args.inputs;
  if (!rowStats || !pbar || !dy) {
    throw new Error(
      "kernels/nclip.ts: the gradient needs the forward pass's rowStats and pbar, and dy",
    );
  }
  const smooth = backend.runWebGPUProgram(
    new NclipRowSmoothProgram(rows, limit),
    [image, text, rowStats, pbar],
    "float32",
    uniforms,
  );
  try {
    const [dImage, dText] = runWithExtraOutputs(
      backend,
      new NclipGradProgram(rows, cols),
      [image, text, rowStats, pbar, smooth, { ...dy, shape: [1] }],
      [[rows * cols]],
      uniforms,
    );
    return [{ ...dImage!, shape: [rows, cols] }, { ...dText!, shape: [rows, cols] }];
  } finally {
    backend.disposeData(smooth.dataId);
  }
}

/** Kernel configs of both passes (webgpu). */
export function nclipKernelConfigs(): KernelConfig[] {
  return webgpuKernelConfigs({ [NCLIP]: runForward, [NCLIP_GRAD]: runBackward });
}

/**
 * The weighted nCLIP loss of prototype logits `image`, `text` `[N, K]`, with
 * gradients for both (needs novalab's WebGPU kernels; float32).
 */
export function nclipFused(image: Tensor, text: Tensor, options: NclipKernelOptions): Scalar {
  const attrs = { ...options };
  return runCustomGradOp<Tensor>({
    inputs: { image, text },
    forwardFunc: (_backend, save) => {
      const [loss, stats, pbar] = tf.engine().runKernel(
        NCLIP,
        { image, text },
        attrs as unknown as NamedAttrMap,
      ) as Tensor[];
      save([image, text, stats!, pbar!]);
      tf.dispose([stats!, pbar!]);
      const scalar = loss!.reshape([]);
      loss!.dispose();
      return scalar;
    },
    backwardsFunc: (dy, saved) => {
      const [i, t, rowStats, pbar] = saved;
      // Both gradients at once, eagerly (a lazy closure's tensors die with its own tidy).
      const [dImage, dText] = tf.engine().runKernel(
        NCLIP_GRAD,
        { image: i!, text: t!, rowStats: rowStats!, pbar: pbar!, dy },
        attrs as unknown as NamedAttrMap,
      ) as Tensor[];
      return { image: () => dImage!, text: () => dText! };
    },
  }) as Scalar;
}
