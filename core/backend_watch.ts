/**
 * What novalab watches on a WebGPU backend so that steps can be recorded and
 * replayed (`core/step_recording.ts`, `core/step_replay.ts`): the buffers
 * every bind group binds (WebGPU does not say), the buffers tfjs's pool has
 * handed out, and the buffers it gets back.
 *
 * Tied to tfjs-backend-webgpu 4.22's internals (pinned in deno.json).
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type * as tf from "@tensorflow/tfjs";

/** A buffer entry of a bind group (only buffer bindings are replayable). */
export interface BoundBuffer {
  binding: number;
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** A tensor's data on the backend. */
interface TensorData {
  dtype: tf.DataType;
  shape: number[];
  values: ArrayLike<number> | null;
  resource: unknown;
}

/** The backend internals the recorder touches (tfjs-backend-webgpu 4.22). */
export interface RecorderInternals {
  device: GPUDevice;
  queue: GPUQueue;
  tensorMap: { get(id: object): TensorData | undefined };
  bufferManager: {
    acquireBuffer(size: number, usage: number, mapped?: boolean): GPUBuffer;
    releaseBuffer(buffer: GPUBuffer, reuse?: boolean): void;
    usedBuffers: Map<string, GPUBuffer[]>;
  };
  commandEncoder: GPUCommandEncoder | null;
  uploadToGPU(dataId: object): void;
  ensureCommandEncoderReady(): void;
  endComputePassEncoder(): void;
}

const bindGroupEntries = new WeakMap<GPUBindGroup, BoundBuffer[] | string>();
const releaseListeners = new WeakMap<object, Set<(buffer: GPUBuffer) => void>>();

/**
 * Calls `listener` with every buffer `backend`'s pool gets back (a tensor
 * disposed) until the returned function is called. Needs {@linkcode watchBackend}.
 */
export function onBufferRelease(
  backend: WebGPUBackend,
  listener: (buffer: GPUBuffer) => void,
): () => void {
  const pool = (backend as unknown as RecorderInternals).bufferManager;
  const listeners = releaseListeners.get(pool);
  if (!listeners) throw new Error("core/step_recording.ts: watchBackend was not called");
  listeners.add(listener);
  return () => listeners.delete(listener);
}

/**
 * Makes `backend` remember what every bind group binds and tell listeners
 * about buffers its pool gets back (needed to compare and replay
 * recordings). Call before the steps to record run (groups created earlier
 * and reused later are unknown to a recording). Idempotent.
 */
export function watchBackend(backend: WebGPUBackend): void {
  const b = backend as unknown as RecorderInternals;
  const device = b.device;
  const pool = b.bufferManager;
  if (releaseListeners.has(pool)) return;
  const listeners = new Set<(buffer: GPUBuffer) => void>();
  releaseListeners.set(pool, listeners);
  const release = pool.releaseBuffer;
  pool.releaseBuffer = function (buffer: GPUBuffer, reuse?: boolean) {
    for (const listener of listeners) listener(buffer);
    return release.call(this, buffer, reuse);
  };
  const create = device.createBindGroup.bind(device);
  device.createBindGroup = (descriptor: GPUBindGroupDescriptor) => {
    const group = create(descriptor);
    const entries: BoundBuffer[] = [];
    for (const entry of descriptor.entries) {
      const r = entry.resource as Partial<GPUBufferBinding>;
      if (typeof r !== "object" || r === null || !r.buffer) {
        bindGroupEntries.set(group, `binding ${entry.binding} is not a buffer`);
        return group;
      }
      entries.push({
        binding: entry.binding,
        buffer: r.buffer,
        offset: r.offset ?? 0,
        size: r.size ?? r.buffer.size - (r.offset ?? 0),
      });
    }
    bindGroupEntries.set(group, entries);
    return group;
  };
}

/** The buffers `group` binds, or why they are unknown. */
export function boundBuffers(group: GPUBindGroup): BoundBuffer[] | string {
  return bindGroupEntries.get(group) ??
    "a bind group created before watchBackend was called";
}

/** The buffers tfjs's pool has handed out now (tensors', and staging or uniform buffers). */
export function usedBuffers(backend: WebGPUBackend): Set<GPUBuffer> {
  const used = new Set<GPUBuffer>();
  for (const list of (backend as unknown as RecorderInternals).bufferManager.usedBuffers.values()) {
    for (const buffer of list) used.add(buffer);
  }
  return used;
}
