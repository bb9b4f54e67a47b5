/**
 * Whether novalab's WebGPU kernels are registered and in use — the state
 * `kernels/install.ts` sets. Kept apart from the installer so that the kernel
 * modules the installer registers can ask it without importing the installer
 * back (no import cycle).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";

let installed = false;

/** Records whether the kernels are registered (only `kernels/install.ts` calls it). */
export function markNovalabKernelsInstalled(value: boolean): void {
  installed = value;
}

/** True while novalab's kernels are registered for the webgpu backend. */
export function novalabKernelsInstalled(): boolean {
  return installed;
}

/**
 * True when novalab's kernels run now: the active backend is webgpu and they
 * are installed. Callers pick their WebGPU-specific paths with it (direct
 * transposed matmuls, fused bias epilogues, fused LayerNorm and AdamW) and keep
 * their WASM/CPU paths otherwise.
 */
export function novalabKernelsActive(): boolean {
  return installed && tf.getBackend() === "webgpu";
}
