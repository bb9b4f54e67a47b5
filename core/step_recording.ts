/**
 * Records the GPU work of one call — a training step — at the WebGPU API
 * level, so that `core/step_replay.ts` can issue it again without running the
 * JavaScript that produced it (tfjs's engine, the tape, novalab's kernel
 * functions: ≈ 150 µs of host time per dispatch against ≈ 3 µs for the
 * WebGPU calls themselves; CUDA graphs, for WebGPU).
 *
 * The recorder only watches: the step runs exactly as it would, and anything
 * it cannot replay marks the recording unusable with the reason (a read of a
 * tensor, a timestamp query, a command buffer encoded before the recording
 * began, a buffer created with data it did not see). What it records, in
 * queue order:
 *
 * - `write`: a `queue.writeBuffer` (novalab's uniform arena writes each
 *   submit's uniforms this way), with a copy of the bytes;
 * - `submit`: per command buffer, its compute passes (pipeline, bind group,
 *   dispatch size) and buffer copies.
 *
 * One thing it changes: while recording, data that tfjs uploads from the CPU
 * (a constant made inside the step) is copied from a buffer the recording
 * owns, holding those bytes, so a replay can copy it again at the same point.
 * Values the host computes afresh for every step go through `hostValue`
 * (`core/host_value.ts`): its producer runs again at every replay (with its
 * side effects: an optimiser's step count), and its bytes are written before
 * the replay's first submit.
 *
 * Tied to tfjs-backend-webgpu 4.22's internals (pinned in deno.json):
 * `tensorMap`, `uploadToGPU`, `bufferManager` (`usedBuffers`, `releaseBuffer`),
 * `commandEncoder`.
 *
 * @module
 */
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { submitPendingWork } from "./webgpu_device.ts";
import { type EncodedCommand, recordEncoder } from "./encoder_recording.ts";
import { type ActiveRecording, activeRecording, setActiveRecording } from "./host_value.ts";
import {
  logSeedDerivations,
  recordingHost,
  type StepHost,
  type StepHostContext,
} from "./step_host.ts";

export type { EncodedCommand, PassCall } from "./encoder_recording.ts";
import {
  onBufferRelease,
  type RecorderInternals,
  usedBuffers,
  watchBackend,
} from "./backend_watch.ts";

export { boundBuffers, onBufferRelease, usedBuffers, watchBackend } from "./backend_watch.ts";
export type { BoundBuffer, RecorderInternals } from "./backend_watch.ts";

export { disposeRecording, livedThrough } from "./step_recording_data.ts";
export type {
  QueueOperation,
  RecordedProducer,
  StepRecording,
  UploadSource,
} from "./step_recording_data.ts";
import type { StepRecording } from "./step_recording_data.ts";

function bytesOf(
  data: BufferSource | SharedArrayBuffer,
  offset = 0,
  size?: number,
): Uint8Array<ArrayBuffer> {
  if (ArrayBuffer.isView(data)) {
    const unit = (data as unknown as { BYTES_PER_ELEMENT?: number }).BYTES_PER_ELEMENT ?? 1;
    const start = data.byteOffset + offset * unit;
    const length = size === undefined ? data.byteLength - offset * unit : size * unit;
    return new Uint8Array(data.buffer, start, length).slice();
  }
  const length = size === undefined ? data.byteLength - offset : size;
  return new Uint8Array(data as ArrayBuffer, offset, length).slice();
}

/** Records the GPU work issued between construction and {@linkcode Recorder.stop}. */
export class Recorder implements ActiveRecording {
  #b: RecorderInternals;
  #restore: (() => void)[] = [];
  #recording: StepRecording;
  #lists = new WeakMap<GPUCommandBuffer, EncodedCommand[]>();
  #producerOf = new Map<object, number>();
  /** What host values made while recording see (`core/step_host.ts`'s recordingHost). */
  readonly host: StepHost;

  /**
   * Flushes the backend's pending work, then starts recording `backend`;
   * `context`: the step's seeds and host inputs, for its host values.
   */
  constructor(backend: WebGPUBackend, context: StepHostContext = {}) {
    if (activeRecording()) {
      throw new Error("core/step_recording.ts: a step is already being recorded");
    }
    watchBackend(backend);
    submitPendingWork(backend);
    this.#b = backend as unknown as RecorderInternals;
    this.#recording = {
      operations: [],
      uploads: new Map(),
      producers: [],
      host: { context, derivations: new Map() },
      unusable: null,
      usedAtStart: usedBuffers(backend),
      usedAtEnd: new Set(),
      released: new Set(),
      dispatches: 0,
    };
    const released = this.#recording.released;
    this.#restore.push(onBufferRelease(backend, (buffer) => released.add(buffer)));
    this.#restore.push(logSeedDerivations(this.#recording.host.derivations));
    this.host = recordingHost(context, this.#recording.host.derivations, (r) => this.refuse(r));
    this.#install();
    setActiveRecording(this);
  }

  /** Marks the recording unusable (the first reason is kept). */
  refuse(reason: string): void {
    this.#recording.unusable ??= reason;
  }

  /** Registers a host value (`core/host_value.ts`) made inside the step. */
  noteProducer(
    dataId: object,
    produce: (host: StepHost) => Float32Array | Int32Array,
    bytes: number,
    fixed: readonly number[],
  ): void {
    this.#producerOf.set(dataId, this.#recording.producers.length);
    this.#recording.producers.push({ produce, bytes, fixed: [...fixed], source: null });
  }

  /** Submits what the step left pending, stops recording and returns what it recorded. */
  stop(): StepRecording {
    try {
      submitPendingWork(this.#b);
    } finally {
      for (const undo of this.#restore.reverse()) undo();
      setActiveRecording(null);
    }
    this.#recording.usedAtEnd = usedBuffers(this.#b as unknown as WebGPUBackend);
    return this.#recording;
  }

  #patch<T extends object, K extends keyof T>(target: T, key: K, value: T[K]): void {
    if (!(key in target)) throw new Error(`core/step_recording.ts: no ${String(key)} to record`);
    const own = Object.getOwnPropertyDescriptor(target, key);
    (target as Record<K, T[K]>)[key] = value;
    this.#restore.push(() => {
      if (own) Object.defineProperty(target, key, own);
      else delete (target as Partial<T>)[key];
    });
  }

  #install(): void {
    const device = this.#b.device;
    const createBuffer = device.createBuffer.bind(device); // uploads still create mapped sources
    this.#watchEncoders(device);
    this.#watchQueue(this.#b.queue);
    this.#refuseHiddenData(device, createBuffer);
    this.#watchUploads(createBuffer);
  }

  /** Keeps the commands of every command buffer encoded from now on. */
  #watchEncoders(device: GPUDevice): void {
    const rec = this.#recording;
    const createEncoder = device.createCommandEncoder.bind(device);
    this.#patch(device, "createCommandEncoder", (d?: GPUCommandEncoderDescriptor) => {
      const encoder = createEncoder(d);
      const commands = recordEncoder(encoder, {
        refuse: (reason) => this.refuse(reason),
        dispatched: () => rec.dispatches += 1,
      });
      const finish = encoder.finish.bind(encoder);
      encoder.finish = (fd?: GPUCommandBufferDescriptor) => {
        const buffer = finish(fd);
        this.#lists.set(buffer, commands);
        return buffer;
      };
      return encoder;
    });
  }

  /** Records submits (with their command buffers' commands) and buffer writes, in queue order. */
  #watchQueue(queue: GPUQueue): void {
    const rec = this.#recording;
    const submit = queue.submit.bind(queue);
    this.#patch(queue, "submit", (buffers: Iterable<GPUCommandBuffer>) => {
      const list = [...buffers];
      const commandBuffers: EncodedCommand[][] = [];
      for (const cb of list) {
        const commands = this.#lists.get(cb);
        if (!commands) this.refuse("a command buffer encoded before the recording began");
        commandBuffers.push(commands ?? []);
      }
      rec.operations.push({ op: "submit", commandBuffers });
      submit(list);
    });
    const write = queue.writeBuffer.bind(queue) as (...a: unknown[]) => void;
    this.#patch(
      queue,
      "writeBuffer",
      ((
        buffer: GPUBuffer,
        offset: number,
        data: BufferSource,
        dataOffset?: number,
        size?: number,
      ) => {
        rec.operations.push({
          op: "write",
          buffer,
          offset,
          bytes: bytesOf(data, dataOffset, size),
        });
        write(buffer, offset, data, dataOffset, size);
      }) as GPUQueue["writeBuffer"],
    );
  }

  /** Refuses reads back and buffers created with data: work a replay could not repeat. */
  #refuseHiddenData(
    device: GPUDevice,
    createBuffer: (d: GPUBufferDescriptor) => GPUBuffer,
  ): void {
    const mapAsync = GPUBuffer.prototype.mapAsync;
    const refuse = (reason: string) => this.refuse(reason);
    this.#patch(GPUBuffer.prototype, "mapAsync", function (this: GPUBuffer, ...a) {
      refuse("the step read a tensor back (its later work would depend on the values)");
      return mapAsync.apply(this, a);
    });
    this.#patch(device, "createBuffer", (d: GPUBufferDescriptor) => {
      if (d.mappedAtCreation) this.refuse("a buffer created with data the recorder did not see");
      return createBuffer(d);
    });
  }

  /**
   * Uploads tfjs makes inside the step (constants) copy from a source buffer
   * the recording owns, so a replay repeats them.
   */
  #watchUploads(createBuffer: (d: GPUBufferDescriptor) => GPUBuffer): void {
    const b = this.#b;
    const rec = this.#recording;
    const upload = b.uploadToGPU;
    this.#patch(b, "uploadToGPU", (dataId: object) => {
      const data = b.tensorMap.get(dataId);
      if (!data || data.resource != null || !data.values) return upload.call(b, dataId);
      if (data.dtype !== "float32" && data.dtype !== "int32" && data.dtype !== "bool") {
        this.refuse(`an upload of a ${data.dtype} tensor`);
        return upload.call(b, dataId);
      }
      const values = data.dtype === "float32"
        ? Float32Array.from(data.values)
        : Int32Array.from(data.values);
      const size = values.byteLength;
      const buffer = b.bufferManager.acquireBuffer(
        size,
        GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        false,
      );
      const source = createBuffer({
        size: Math.max(4, Math.ceil(size / 4) * 4),
        usage: GPUBufferUsage.COPY_SRC | GPUBufferUsage.COPY_DST,
        mappedAtCreation: true,
      });
      const bytes = new Uint8Array(values.buffer, values.byteOffset, size).slice();
      new Uint8Array(source.getMappedRange()).set(bytes);
      source.unmap();
      const producer = this.#producerOf.get(dataId) ?? -1;
      if (producer >= 0) rec.producers[producer]!.source = source;
      rec.uploads.set(source, { bytes, producer });
      b.ensureCommandEncoderReady();
      b.endComputePassEncoder();
      b.commandEncoder!.copyBufferToBuffer(source, 0, buffer, 0, size);
      data.resource = buffer;
      data.values = null;
    });
  }
}
