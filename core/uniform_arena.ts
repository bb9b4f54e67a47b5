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
  const arena = new UniformArena(b);
  const pack = b.makeUniforms, submit = b.submitQueue;
  b.makeUniforms = (programUniform: unknown) =>
    arena.take(arena.packWithTfjs(() => pack.call(b, programUniform)));
  b.submitQueue = () => {
    arena.flush();
    submit.call(b);
  };
  arenas.set(backend, () => arena.stats());
}

/** Packed uniform bytes as tfjs's `makeUniforms` wrote them. */
interface Packed {
  data: ArrayBuffer;
  size: number;
}

/** The arena of one backend: its buffers, the staging copy of the one being filled, counts. */
class UniformArena {
  readonly #align: number;
  readonly #queue: GPUQueue;
  readonly #buffers: GPUBuffer[] = [];
  readonly #staging = new Uint8Array(ARENA_BUFFER_BYTES);
  /** Index of the buffer being filled this submit, and its bytes used. */
  #current = 0;
  #used = 0;
  #slots = 0;
  #writes = 0;
  /** What tfjs's stand-in buffer request hands out (dropped from its disposal list again). */
  readonly #placeholder = {} as GPUBuffer;

  constructor(readonly b: Internals) {
    this.#align = Math.max(16, b.device.limits.minUniformBufferOffsetAlignment);
    this.#queue = b.queue;
  }

  /** The counts so far. */
  stats(): UniformArenaStats {
    return { slots: this.#slots, writes: this.#writes, buffers: this.#buffers.length };
  }

  /**
   * Runs tfjs's packing (`pack`) with its buffer pool and queue swapped for
   * stand-ins that hand back the bytes it would have written.
   */
  packWithTfjs(pack: () => void): Packed {
    const b = this.b;
    let packed: Packed | null = null;
    const pool = b.bufferManager;
    b.bufferManager = { acquireBuffer: () => this.#placeholder };
    b.queue = {
      writeBuffer: (
        _buffer: GPUBuffer,
        _offset: number,
        data: ArrayBuffer,
        _at: number,
        size: number,
      ) => {
        packed = { data, size };
      },
    } as unknown as GPUQueue;
    try {
      pack();
    } finally {
      b.bufferManager = pool;
      b.queue = this.#queue;
    }
    if (b.uniformPendingDisposal.at(-1) === this.#placeholder) b.uniformPendingDisposal.pop();
    const bytes = packed as Packed | null;
    if (!bytes) throw new Error("core/uniform_arena.ts: tfjs's makeUniforms wrote no uniforms");
    if (bytes.size > ARENA_BUFFER_BYTES) {
      throw new Error(`core/uniform_arena.ts: ${bytes.size} bytes of uniforms exceed a slot`);
    }
    return bytes;
  }

  /** Copies `bytes` into the next aligned slot; returns its binding. */
  take(bytes: Packed): UniformBinding {
    let offset = Math.ceil(this.#used / this.#align) * this.#align;
    if (offset + bytes.size > ARENA_BUFFER_BYTES) {
      this.#write();
      this.#current += 1;
      offset = 0;
    }
    // Padding: the same bytes every step (step replay compares them).
    this.#staging.fill(0, this.#used, offset);
    this.#staging.set(new Uint8Array(bytes.data, 0, bytes.size), offset);
    this.#used = offset + bytes.size;
    this.#slots += 1;
    return { buffer: this.#bufferAt(this.#current), offset, size: bytes.size };
  }

  /** Before a submit: writes the buffer being filled and starts again from the first. */
  flush(): void {
    this.#write();
    this.#current = 0;
  }

  #write(): void {
    if (this.#used === 0) return;
    this.#queue.writeBuffer(this.#buffers[this.#current]!, 0, this.#staging, 0, this.#used);
    this.#writes += 1;
    this.#used = 0;
  }

  #bufferAt(i: number): GPUBuffer {
    while (this.#buffers.length <= i) {
      this.#buffers.push(this.b.device.createBuffer({
        size: ARENA_BUFFER_BYTES,
        usage: GPUBufferUsage.UNIFORM | GPUBufferUsage.COPY_DST,
      }));
    }
    return this.#buffers[i]!;
  }
}
