/**
 * Helpers of the kernel correctness tests: whether a WebGPU adapter exists
 * (CI has Mesa's llvmpipe fallback adapter), deterministic inputs, and an
 * fp32 comparison that names the worst entry.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { initBackend } from "../core/backend.ts";
import { requestWebGpuAdapter } from "../core/webgpu_device.ts";
import { installNovalabKernels } from "./install.ts";
import { countDispatches, type DispatchCounter } from "./dispatch_count.ts";
import assert from "node:assert/strict";

/** Why a kernel test is skipped on this machine, or `null` when a WebGPU adapter exists. */
export async function webgpuSkipReason(): Promise<string | null> {
  if (!(navigator as { gpu?: GPU }).gpu) return "navigator.gpu is missing in this Deno";
  const adapter = await requestWebGpuAdapter();
  return adapter ? null : "no WebGPU adapter (install Mesa: libgl1-mesa-dri / mesa-vulkan-drivers)";
}

let counter: DispatchCounter | undefined;

/** Activates webgpu with novalab's kernels and returns a dispatch counter on it. */
export async function useNovalabWebGpu(): Promise<DispatchCounter> {
  await initBackend("webgpu");
  installNovalabKernels();
  counter ??= countDispatches(tf.backend() as WebGPUBackend);
  counter.reset();
  return counter;
}

/** Deterministic values in [-1, 1) (a small LCG, so every backend gets the same numbers). */
export function values(size: number, seed: number): Float32Array {
  const out = new Float32Array(size);
  let s = (seed * 2654435761) >>> 0 || 1;
  for (let i = 0; i < size; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    out[i] = s / 2 ** 31 - 1;
  }
  return out;
}

/**
 * Asserts `|actual − expected| ≤ atol + rtol·|expected|` entry by entry and
 * throws naming `what`, the worst index and both values otherwise.
 */
export function assertClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  what: string,
  tol: { atol: number; rtol: number } = { atol: 1e-5, rtol: 1e-4 },
): void {
  if (actual.length !== expected.length) {
    throw new Error(`${what}: ${actual.length} values, expected ${expected.length}`);
  }
  let worst = -1, excess = 0;
  for (let i = 0; i < actual.length; i++) {
    const bound = tol.atol + tol.rtol * Math.abs(expected[i]!);
    const over = Math.abs(actual[i]! - expected[i]!) - bound;
    if (!(over <= excess)) {
      excess = Number.isNaN(over) ? Infinity : over;
      worst = i;
    }
  }
  if (worst >= 0) {
    throw new Error(
      `${what}: entry ${worst} is ${actual[worst]}, expected ${expected[worst]} ` +
        `(atol ${tol.atol}, rtol ${tol.rtol})`,
    );
  }
}

/**
 * Runs `f` (inside `tf.tidy`) on `backend` and returns the values of the
 * tensors it returns. WebGPU runs with the kernels as currently installed
 * (call {@linkcode useNovalabWebGpu} first).
 */
export async function valuesOn(
  backend: "cpu" | "webgpu",
  f: () => tf.Tensor | tf.Tensor[],
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(f);
  const list = Array.isArray(out) ? out : [out];
  const data = await Promise.all(list.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(list);
  return data;
}

/**
 * Runs `fn` on novalab's WebGPU backend with a fresh temporary directory (a
 * tuning cache's), then removes the directory and calls `clear` (forgets the
 * tuned choices) even when `fn` throws.
 */
export async function withTuningCacheDir(
  clear: () => void,
  fn: (backend: WebGPUBackend, dir: string) => Promise<void>,
): Promise<void> {
  await useNovalabWebGpu();
  const dir = await Deno.makeTempDir({ prefix: "novalab-tuning-" });
  try {
    await fn(tf.backend() as WebGPUBackend, dir);
  } finally {
    clear();
    await Deno.remove(dir, { recursive: true });
  }
}

/**
 * Registers `title`'s tuner test twice, timed on the GPU clock and on the wall
 * clock: each run gets novalab's WebGPU backend, `clear`s the tuner's table
 * afterwards and must leak no tensor.
 */
export function testOnBothClocks(
  title: (clock: "GPU" | "wall") => string,
  options: Omit<Deno.TestDefinition, "name" | "fn">,
  clear: () => void,
  body: (backend: WebGPUBackend, wallClock: boolean) => Promise<void>,
): void {
  for (const wallClock of [false, true]) {
    Deno.test(title(wallClock ? "wall" : "GPU"), options, async () => {
      await useNovalabWebGpu();
      const before = tf.memory().numTensors;
      try {
        await body(tf.backend() as WebGPUBackend, wallClock);
      } finally {
        clear();
      }
      assert.equal(tf.memory().numTensors, before, "the tuner leaks no tensors");
    });
  }
}
