/**
 * Checks and bookkeeping for kernels that write their inputs in place (the
 * fused AdamW's state and parameters, BatchNorm's running estimates): every
 * step then reads and writes the same buffers, nothing is allocated, and a
 * replayed step (`core/step_replay.ts`) finds its state where it left it.
 *
 * Tied to tfjs-backend-webgpu 4.22's `tensorMap` (pinned in deno.json).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Tensor, Variable } from "../core/tensor.ts";

interface TensorData {
  refCount: number;
  values: unknown;
}

function tensorData(backend: WebGPUBackend, t: TensorInfo, where: string): TensorData {
  const map = (backend as unknown as { tensorMap: { get(id: object): TensorData | undefined } })
    .tensorMap;
  const data = map.get(t.dataId);
  if (!data) throw new Error(`${where}: a tensor written in place has no data on webgpu`);
  return data;
}

/**
 * Throws unless `t` is the only tensor on its buffer: writing it in place
 * would change every tensor sharing it (tfjs's reshape and clone share).
 */
export function assertSoleOwner(
  backend: WebGPUBackend,
  t: TensorInfo,
  name: string,
  where: string,
): void {
  const owners = tensorData(backend, t, where).refCount;
  if (owners !== 1) {
    throw new Error(
      `${where}: ${name} is updated in place, but shares its buffer with ${owners - 1} other ` +
        `tensor(s) that would change with it; give it its own buffer first`,
    );
  }
}

/** Drops the CPU copy tfjs caches after a read: the dispatch just wrote `t` on the device. */
export function dropCpuCopies(backend: WebGPUBackend, ts: TensorInfo[], where: string): void {
  for (const t of ts) tensorData(backend, t, where).values = null;
}

/**
 * Gives `variable` a buffer of its own when other tensors share its current one
 * (a `tf.clone` or reshape of it kept somewhere, a loaded checkpoint's tensor),
 * so updating it in place leaves them as they were. A copy only in that rare case.
 */
export function ownBuffer(variable: Variable): void {
  if (tf.backend().refCount(variable.dataId) <= 1) return;
  tf.tidy(() => variable.assign(tf.mul(variable, tf.scalar(1))));
}

/** The tfjs-backend-webgpu 4.22 internals {@linkcode assignInPlace} uses. */
interface CopyInternals {
  tensorMap: { get(id: object): { resource: unknown } | undefined };
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
  commandEncoder: GPUCommandEncoder;
}

/**
 * `variable.assign(value)`, but on WebGPU into the variable's own buffer (a
 * copy recorded in order with the dispatches), so the variable keeps its
 * buffer from step to step — what a replayed step needs. `value` is not
 * disposed; it must have the variable's shape and dtype.
 */
export function assignInPlace(variable: Variable, value: Tensor): void {
  if (
    tf.getBackend() !== "webgpu" || !tf.util.arraysEqual(variable.shape, value.shape) ||
    variable.dtype !== value.dtype
  ) {
    variable.assign(value);
    return;
  }
  const backend = tf.backend() as unknown as WebGPUBackend;
  const b = backend as unknown as CopyInternals;
  ownBuffer(variable);
  const bufferOf = (t: Tensor) => {
    b.uploadToGPU(t.dataId);
    return b.tensorMap.get(t.dataId)?.resource as GPUBuffer;
  };
  const src = bufferOf(value), dst = bufferOf(variable);
  b.ensureCommandEncoderReady();
  b.endComputePassEncoder();
  b.commandEncoder.copyBufferToBuffer(src, 0, dst, 0, dst.size);
  dropCpuCopies(backend, [variable], "kernels/in_place.ts");
}
