/**
 * Registers novalab's WGSL kernels into tfjs-backend-webgpu: `BatchMatMul` and
 * `_FusedMatMul` replace tfjs's stock kernels (same kernel names, so tfjs's
 * gradients of those kernels run on them too), `Cast` is replaced so that
 * int32/bool → float32 really converts (`kernels/cast.ts`), `Sum` and `Mean`
 * so that reducing leading or middle axes needs no transposed copy
 * (`kernels/column_sum.ts`), and the fused
 * LayerNorm, BatchNorm, L2-normalisation, log-sum-exp, SigLIP, attention, linear-layer,
 * Epps–Pulley and AdamW kernels
 * are added under their own names. {@linkcode restoreStockKernels} puts tfjs's
 * kernels back (A/B measurements). `NOVALAB_STOCK_KERNELS=1` asks
 * `core/backend.ts` not to install them at all.
 *
 * @module
 */
import { envIs } from "../core/env.ts";
import * as tf from "@tensorflow/tfjs";
import "@tensorflow/tfjs-backend-webgpu";
import { matMulKernelConfigs } from "./matmul.ts";
import { layerNormForwardKernelConfigs } from "./layernorm_forward.ts";
import { layerNormBackwardKernelConfigs } from "./layernorm_backward.ts";
import { adamWKernelConfigs } from "./adamw.ts";
import { attentionKernelConfigs } from "./attention_kernels.ts";
import { linearGradConfig, linearKernelConfigs } from "./linear.ts";
import { geluKernelConfigs } from "./linear_gelu.ts";
import { globalNormKernelConfigs } from "./grad_norm.ts";
import { batchNormKernelConfigs } from "./batchnorm.ts";
import { weightAverageKernelConfigs } from "./weight_average.ts";
import { eppsPulleyKernelConfigs } from "./epps_pulley.ts";
import { castKernelConfig } from "./cast.ts";
import { columnSumKernelConfigs } from "./column_sum.ts";
import { markNovalabKernelsInstalled, novalabKernelsInstalled } from "./active.ts";
import { l2NormalizeKernelConfigs } from "./l2_normalize.ts";
import { logSumExpKernelConfigs } from "./logsumexp.ts";
import { sigLipKernelConfigs } from "./siglip.ts";
import { stepGuardKernelConfigs } from "./step_guard.ts";
import { squaredErrorKernelConfigs } from "./squared_error.ts";
import { infoNceKernelConfigs } from "./infonce.ts";
import { nclipKernelConfigs } from "./nclip.ts";
import { uniformityKernelConfigs } from "./uniformity.ts";
import { ntXentKernelConfigs } from "./ntxent.ts";
import { randomDirectionsKernelConfigs } from "./random_directions.ts";
import { unitPixelsKernelConfigs } from "./unit_pixels.ts";

/** The environment switch that keeps tfjs's stock WebGPU kernels. */
export const STOCK_KERNELS_ENV = "NOVALAB_STOCK_KERNELS";

const REPLACED = ["BatchMatMul", "_FusedMatMul", "Cast", "Sum", "Mean"] as const;
const stock = new Map<string, tf.KernelConfig>();
export { novalabKernelsActive, novalabKernelsInstalled } from "./active.ts";

/** The kernels novalab adds under its own names (not replacing any of tfjs's). */
function addedKernelConfigs(): tf.KernelConfig[] {
  return [
    ...layerNormForwardKernelConfigs(),
    ...layerNormBackwardKernelConfigs(),
    ...adamWKernelConfigs(),
    ...attentionKernelConfigs(),
    ...linearKernelConfigs(),
    ...geluKernelConfigs(),
    ...globalNormKernelConfigs(),
    ...batchNormKernelConfigs(),
    ...eppsPulleyKernelConfigs(),
    ...l2NormalizeKernelConfigs(),
    ...logSumExpKernelConfigs(),
    ...sigLipKernelConfigs(),
    ...stepGuardKernelConfigs(),
    ...squaredErrorKernelConfigs(),
    ...infoNceKernelConfigs(),
    ...nclipKernelConfigs(),
    ...uniformityKernelConfigs(),
    ...ntXentKernelConfigs(),
    ...randomDirectionsKernelConfigs(),
    ...unitPixelsKernelConfigs(),
    ...weightAverageKernelConfigs(),
  ];
}

/** True when `NOVALAB_STOCK_KERNELS=1` (an unreadable environment counts as unset). */
export function stockKernelsRequested(): boolean {
  return envIs(STOCK_KERNELS_ENV, "1");
}

function stockKernel(name: string): tf.KernelConfig {
  const config = tf.getKernel(name, "webgpu");
  if (!config) {
    throw new Error(
      `kernels/install.ts: tfjs-backend-webgpu has no stock kernel ${name}; ` +
        "expected @tensorflow/tfjs-backend-webgpu 4.22.0 (pinned in deno.json)",
    );
  }
  return config;
}

/**
 * Registers novalab's WebGPU kernels (idempotent). Returns `true` when this call
 * installed them, `false` when they already were.
 */
export function installNovalabKernels(): boolean {
  if (novalabKernelsInstalled()) return false;
  for (const name of REPLACED) stock.set(name, stockKernel(name));
  const configs = [
    ...matMulKernelConfigs({
      batchMatMul: stock.get("BatchMatMul")!.kernelFunc,
      fusedMatMul: stock.get("_FusedMatMul")!.kernelFunc,
    }),
    castKernelConfig(stock.get("Cast")!.kernelFunc),
    ...columnSumKernelConfigs({
      sum: stock.get("Sum")!.kernelFunc,
      mean: stock.get("Mean")!.kernelFunc,
    }),
    ...addedKernelConfigs(),
  ];
  for (const config of configs) {
    if (tf.getKernel(config.kernelName, "webgpu")) tf.unregisterKernel(config.kernelName, "webgpu");
    tf.registerKernel(config);
  }
  // A gradient is backend-independent and only ever looked up for LINEAR, so it stays registered.
  if (!tf.getGradient(linearGradConfig.kernelName)) tf.registerGradient(linearGradConfig);
  markNovalabKernelsInstalled(true);
  return true;
}

/** Puts tfjs's stock kernels back and removes novalab's (idempotent). */
export function restoreStockKernels(): void {
  if (!novalabKernelsInstalled()) return;
  for (const name of REPLACED) {
    tf.unregisterKernel(name, "webgpu");
    tf.registerKernel(stock.get(name)!);
  }
  for (const config of addedKernelConfigs()) {
    tf.unregisterKernel(config.kernelName, "webgpu");
  }
  markNovalabKernelsInstalled(false);
}
