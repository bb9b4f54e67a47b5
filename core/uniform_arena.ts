/**
 * One uniform buffer per submit instead of one per dispatch.
 *
 * tfjs-backend-webgpu 4.22 (pinned in deno.json) gives every dispatch its own
 * small uniform buffer: a buffer-pool lookup and a `queue.writeBuffer` each
 * (≈ 13 µs of a dispatch's ≈ 75 µs of host time on lavapipe; see
 * docs/benchmarks.md). The arena packs the uniforms of all dispatches of a
 * submit into 256-byte-aligned slots of a few large buffers, written with one
 * `writeBuffer` per buffer just before the submit, and bound at their offsets.
 *
 * Safe to reuse across submits: `writeBuffer` is ordered on the queue after
 * the work already submitted, so the next batch's uniforms never reach a
 * dispatch of the previous one; within a batch each slot is written once.
 *
 * The packing stays tfjs's own (`makeUniforms` lays out the WGSL struct its
 * shader generator declares): the arena runs it with the buffer pool and the
 * queue swapped for stand-ins that hand back the packed bytes.
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

/** Bytes of each arena buffer (64 slots of 256 bytes; more buffers join as a submit needs). */
export const ARENA_BUFFER_BYTES = 64 * 1024;

/** What `makeUniforms` returns: a buffer binding. */
interface UniformBinding {
  buffer: GPUBuffer;
  offset: number;
  size: number;
}

/** The backend internals the arena touches (tfjs-backend-webgpu 4.22). */
interface Internals {
  device: GPUDevice;
  queue: GPUQueue;
  bufferManager: unknown;
  uniformPendingDisposal: unknown[];
  makeUniforms(programUniform: unknown): UniformBinding;
  submitQueue(): void;
}

/** Counts of an installed arena (tests, benchmarks). */
export interface UniformArenaStats {
  /** Uniform slots handed out. */
  slots: number;
  /** `writeBuffer` calls made (one per arena buffer used per submit). */
  writes: number;
  /** GPU buffers the arena owns. */
  buffers: number;
}

const arenas = new WeakMap<object, () => UniformArenaStats>();

/** The arena's counts on `backend`, or `null` when none is installed. */
export function uniformArenaStats(backend: WebGPUBackend): UniformArenaStats | null {
  return arenas.get(backend)?.() ?? null;
}

/**
 * Installs the arena on `backend` (idempotent). Throws, naming the pinned
 * version, when the backend lacks the internals it relies on.
 */
export function installUniformArena(backend: WebGPUBackend): void {
  if (arenas.has(backend)) return;
  const b = backend as unknown as Internals;
  if (
    typeof b.makeUniforms !== "function" || typeof b.submitQueue !== "function" || !b.queue ||
    !Array.isArray(b.uniformPendingDisposal)
  ) {
    throw new Error(
      "core/uniform_arena.ts: the webgpu backend lacks makeUniforms/submitQueue/queue; " +
        "expected tfjs-backend-webgpu 4.22 (pinned in deno.json)",
    );
  }
  const align = Math.max(16, b.device.limits.minUniformBufferOffsetAlignment);
  const queue = b.queue;
  const buffers: GPUBuffer[] = [];
  const staging = new Uint8Array(ARENA_BUFFER_BYTES);
  let current = 0; // index of the buffer being filled this submit
  let used = 0; // bytes of it used
  const stats = { slots: 0, writes: 0 };

  const flushCurrent = () => {
    if (used === 0) return;
    queue.writeBuffer(buffers[current]!, 0, staging, 0, used);
    stats.writes += 1;
    used = 0;
  };
  const bufferAt = (i: number) => {
    while (buffers.length <= i) {
      buffers.push(b.device.createBuffer({
        size: ARENA_BUFFER_BYTES,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      }));
    }
    return buffers[i]!;
  };

  // Stand-ins while tfjs packs: its buffer request and write hand back the bytes.
  const placeholder = {} as GPUBuffer;
  let packed: { data: ArrayBuffer; size: number } | null = null;
  const poolStandIn = { acquireBuffer: () => placeholder };
  const queueStandIn = {
    writeBuffer: (
      _buffer: GPUBuffer,
      _offset: number,
      data: ArrayBuffer,
      _at: number,
      size: number,
    ) => {
      packed = { data, size };
    },
  };
  const pack = b.makeUniforms;
  const pool = b.bufferManager;

  b.makeUniforms = function (programUniform: unknown): UniformBinding {
    packed = null;
    b.bufferManager = poolStandIn;
    b.queue = queueStandIn as unknown as GPUQueue;
    try {
      pack.call(b, programUniform);
    } finally {
      b.bufferManager = pool;
      b.queue = queue;
    }
    if (b.uniformPendingDisposal.at(-1) === placeholder) b.uniformPendingDisposal.pop();
    const bytes = packed as { data: ArrayBuffer; size: number } | null;
    if (!bytes) throw new Error("core/uniform_arena.ts: tfjs's makeUniforms wrote no uniforms");
    if (bytes.size > ARENA_BUFFER_BYTES) {
      throw new Error(`core/uniform_arena.ts: ${bytes.size} bytes of uniforms exceed a slot`);
    }
    let offset = Math.ceil(used / align) * align;
    if (offset + bytes.size > ARENA_BUFFER_BYTES) {
      flushCurrent();
      current += 1;
      offset = 0;
    }
    staging.fill(0, used, offset); // padding: the same bytes every step (step replay compares them)
    staging.set(new Uint8Array(bytes.data, 0, bytes.size), offset);
    used = offset + bytes.size;
    stats.slots += 1;
    return { buffer: bufferAt(current), offset, size: bytes.size };
  };

  const submit = b.submitQueue;
  b.submitQueue = function (): void {
    flushCurrent();
    current = 0;
    submit.call(b);
  };
  arenas.set(backend, () => ({ ...stats, buffers: buffers.length }));
}
