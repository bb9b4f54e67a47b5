/**
 * Backend selection: `auto | webgpu | wasm | cpu` (DESIGN §4). `auto` picks
 * WebGPU when `navigator.gpu` offers a non-fallback adapter, else WASM, else
 * CPU. WASM binaries are located inside the installed npm package (no network).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { setWasmPaths } from "@tensorflow/tfjs-backend-wasm";
import "@tensorflow/tfjs-backend-webgpu";

import type { BackendChoice } from "./recipe/types.ts";
export type { BackendChoice } from "./recipe/types.ts";

/** The valid backend choices, for messages and schemas. */
export const BACKEND_CHOICES: readonly BackendChoice[] = ["auto", "webgpu", "wasm", "cpu"];

/** What was selected, recorded in the run directory. */
export interface BackendInfo {
  /** What was asked for. */
  requested: BackendChoice;
  /** The tfjs backend now active. */
  name: "webgpu" | "wasm" | "cpu";
  /** WebGPU adapter details when WebGPU is active (or was probed). */
  adapter?: { description: string; vendor: string; architecture: string; isFallback: boolean };
  /** WASM features when WASM is active. */
  wasm?: { simd: boolean; threads: boolean; path: string };
  /** tfjs version. */
  tfjs: string;
}

/** Folder URL of the tfjs WASM binaries inside the installed package. */
export function wasmBinaryFolder(): string {
  return new URL("./", import.meta.resolve("@tensorflow/tfjs-backend-wasm")).href;
}

async function probeAdapter(forceFallback: boolean): Promise<BackendInfo["adapter"]> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return undefined;
  const adapter = await gpu.requestAdapter(
    forceFallback ? { forceFallbackAdapter: true } : { powerPreference: "high-performance" },
  );
  if (!adapter) return undefined;
  const info = adapter.info as GPUAdapterInfo & { isFallbackAdapter?: boolean };
  return {
    description: info.description,
    vendor: info.vendor,
    architecture: info.architecture,
    isFallback: Boolean(info.isFallbackAdapter),
  };
}

async function activate(name: "webgpu" | "wasm" | "cpu"): Promise<boolean> {
  if (name === "wasm") setWasmPaths(wasmBinaryFolder());
  const ok = await tf.setBackend(name);
  if (ok) await tf.ready();
  return ok && tf.getBackend() === name;
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
      return { ...base, name: "webgpu", adapter };
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
    return { ...base, name: "webgpu", adapter };
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
    threads: readFlag("WASM_HAS_MULTITHREAD_SUPPORT"),
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
