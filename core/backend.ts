/**
 * Backend selection: `auto | webgpu | wasm | cpu` (DESIGN §4). `auto` picks
 * WebGPU when `navigator.gpu` offers a non-fallback adapter, else WASM, else
 * CPU. WASM binaries are located inside the installed npm package (no network).
 * Activating WebGPU installs novalab's WGSL kernels (`kernels/install.ts`)
 * unless `NOVALAB_STOCK_KERNELS=1` asks for tfjs's stock kernels (A/B runs),
 * and sets how many dispatches tfjs records per queue submit
 * ({@linkcode WEBGPU_SUBMIT_BATCH}, overridable with
 * `NOVALAB_WEBGPU_SUBMIT_BATCH`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";
import { installNovalabKernels, stockKernelsRequested } from "../kernels/install.ts";
import { registerWebGpuBackend, requestWebGpuAdapter, SHADER_F16 } from "./webgpu_device.ts";
import { activateThreadedWasm, sharedWasmMemorySupported } from "./wasm_threaded.ts";
import { wasmThreadsRequested } from "../kernels/wasm_threads.ts";
import { wasmKernelThreads, wasmMemoryShared } from "../kernels/wasm_runtime.ts";

import { setMatMulPrecision } from "../kernels/precision.ts";
import type { BackendChoice, Precision } from "./recipe/types.ts";
export type { BackendChoice } from "./recipe/types.ts";

// Before anything can initialise tfjs's webgpu backend, so its device gets shader-f16.
registerWebGpuBackend();

/** The valid backend choices, for messages and schemas. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "webgpu", "wasm", "cpu"];

/** What was selected, recorded in the run directory. */
export interface BackendInfo {
  /** What was asked for. */
  requested: BackendChoice;
  /** The tfjs backend now active. */
  name: "webgpu" | "wasm" | "cpu";
  /** WebGPU adapter details when WebGPU is active (or was probed). */
  adapter?: {
    description: string;
    vendor: string;
    architecture: string;
    isFallback: boolean;
    /** The adapter offers `shader-f16` (needed by `precision: f16`). */
    shaderF16: boolean;
  };
  /** Which WebGPU kernels run when WebGPU is active (`stock`: `NOVALAB_STOCK_KERNELS=1`). */
  kernels?: "novalab" | "stock";
  /** Matmul operand precision in force (set by {@linkcode applyPrecision}; absent: fp32). */
  precision?: Precision;
  /** Dispatches per queue submit when WebGPU is active (tfjs `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE`). */
  submitBatch?: number;
  /**
   * WASM features when WASM is active: SIMD, whether tfjs's threaded build
   * runs (`threads`: its memory is shared), how many threads novalab's WASM
   * kernels run on (`gemmThreads`: `NOVALAB_WASM_THREADS` or the cores when
   * the memory is shared and the kernels are on, else 1), and where the
   * binaries are.
   */
  wasm?: { simd: boolean; threads: boolean; gemmThreads: number; path: string };
  /** tfjs version. */
  tfjs: string;
}

/** Folder URL of the tfjs WASM binaries inside the installed package. */
export function wasmBinaryFolder(): string {
  return new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).href;
}

async function probeAdapter(forceFallback: boolean): Promise<BackendInfo["adapter"]> {
  const adapter = await requestWebGpuAdapter(
    forceFallback ? { forceFallbackAdapter: true } : { powerPreference: "high-performance" },
  );
  if (!adapter) return undefined;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return {
    description: info.description,
    vendor: info.vendor,
    architecture: info.architecture,
    isFallback: Boolean(info.isFallbackAdapter),
    shaderF16: adapter.features.has(SHADER_F16),
  };
}

async function activate(name: "webgpu" | "wasm" | "cpu"): Promise<boolean> {
  if (name === "webgpu") registerWebGpuBackend();
  if (name === "wasm") {
    setWasmPaths(wasmBinaryFolder());
    if (wasmThreadsRequested() > 1 && sharedWasmMemorySupported()) return activateThreadedWasm();
  }
  const ok = await tf.setBackend(name);
  if (ok) await tf.ready();
  if (ok && name === "cpu") quietCpuBackend();
  return ok && tf.getBackend() === name;
}

/**
 * tfjs's CPU backend prints a banner recommending tfjs-node at its first
 * tensor when it sees Node's globals (which Deno provides); novalab picks its
 * backends itself (`wasm` on a CPU), so the banner only confuses.
 */
function quietCpuBackend(): void {
  const cpu = tf.findBackend("cpu") as { firstUse?: boolean } | null;
  if (cpu) cpu.firstUse = false;
}

/**
 * Dispatches tfjs-backend-webgpu records before it submits its command encoder
 * (its `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE`, 15 by default). 64 cuts a ViT-Ti
 * step's submits from 68 to 16 (docs/benchmarks.md: on the llvmpipe fallback
 * the host issuing time falls ~20% and stops falling beyond 64; with
 * `core/eager_release.ts` the buffer pool no longer grows with the batch).
 * The GPU-side optimum still waits for a GPU machine.
 */
export const WEBGPU_SUBMIT_BATCH = 64;

/** Environment variable overriding {@linkcode WEBGPU_SUBMIT_BATCH} (an integer ≥ 1). */
export const SUBMIT_BATCH_ENV = "NOVALAB_WEBGPU_SUBMIT_BATCH";

/** {@linkcode WEBGPU_SUBMIT_BATCH}, or the value of `NOVALAB_WEBGPU_SUBMIT_BATCH` when set. */
export function webgpuSubmitBatch(): number {
  let raw: string | undefined;
  try {
    raw = Deno.env.get(SUBMIT_BATCH_ENV);
  } catch {
    raw = undefined; // no env permission: the default
  }
  if (raw === undefined || raw.trim() === "") return WEBGPU_SUBMIT_BATCH;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1) {
    throw new Error(
      `core/backend.ts: ${SUBMIT_BATCH_ENV}='${raw}' is not valid; expected an integer >= 1 ` +
        `(dispatches per WebGPU queue submit; default ${WEBGPU_SUBMIT_BATCH})`,
    );
  }
  return n;
}

/**
 * Sets the submit batch and installs novalab's WebGPU kernels unless stock ones
 * were asked for; says which run.
 */
function setUpWebgpu(): Pick<BackendInfo, "kernels" | "submitBatch"> {
  const submitBatch = webgpuSubmitBatch();
  tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", submitBatch);
  if (stockKernelsRequested()) return { kernels: "stock", submitBatch };
  installNovalabKernels();
  return { kernels: "novalab", submitBatch };
}

/**
 * Activates the backend for `choice` and returns what was selected.
 * Throws a clear error when an explicitly requested backend cannot start.
 */
export async function initBackend(choice: BackendChoice): Promise<BackendInfo> {
  const base = { requested: choice, tfjs: tf.version.tfjs };
  if (choice === "auto") {
    const adapter = await probeAdapter(false);
    if (adapter && !adapter.isFallback && await activate("webgpu")) {
      return { ...base, name: "webgpu", adapter, ...setUpWebgpu() };
    }
    if (await activate("wasm")) return { ...base, name: "wasm", wasm: wasmFeatures(), adapter };
    await activate("cpu");
    return { ...base, name: "cpu", adapter };
  }
  if (choice === "webgpu") {
    const adapter = await probeAdapter(false);
    if (!adapter || !await activate("webgpu")) {
      throw new Error(
        "backend webgpu requested but no WebGPU adapter is available " +
          "(navigator.gpu.requestAdapter() returned none); use --backend wasm or cpu",
      );
    }
    return { ...base, name: "webgpu", adapter, ...setUpWebgpu() };
  }
  if (!await activate(choice)) {
    throw new Error(
      `backend ${choice} failed to initialise; valid choices: auto, webgpu, wasm, cpu`,
    );
  }
  return choice === "wasm"
    ? { ...base, name: "wasm", wasm: wasmFeatures() }
    : { ...base, name: "cpu" };
}

function wasmFeatures(): NonNullable<BackendInfo["wasm"]> {
  return {
    simd: readFlag("WASM_HAS_SIMD_SUPPORT"),
    threads: wasmMemoryShared(),
    gemmThreads: wasmKernelThreads(),
    path: wasmBinaryFolder(),
  };
}

function readFlag(flag: string): boolean {
  try {
    return Boolean(tf.env().getBool(flag));
  } catch {
    return false; // flag not evaluated yet on this backend
  }
}

/**
 * Puts the recipe's `precision:` in force on the backend `info` describes and
 * records it there. `f16` off WebGPU, with stock kernels or on an adapter
 * without `shader-f16` throws (before any training) and leaves fp32 in force.
 */
export function applyPrecision(precision: Precision, info: BackendInfo): void {
  setMatMulPrecision(precision, info.name === "webgpu" && info.kernels === "novalab");
  info.precision = precision;
}
