/**
 * What a step recording holds (`core/step_recording.ts` records it,
 * `core/step_replay.ts` issues it again): the queue operations in order, the
 * upload sources it owns, the host values made inside the step, and which
 * buffers tfjs's pool had handed out before and after.
 *
 * @module
 */
import type { EncodedCommand } from "./encoder_recording.ts";
import type { SeedDerivations, StepHost, StepHostContext } from "./step_host.ts";

/** A queue operation, in the order the step issued them. */
export type QueueOperation =
  | { op: "write"; buffer: GPUBuffer; offset: number; bytes: Uint8Array<ArrayBuffer> }
  | { op: "submit"; commandBuffers: EncodedCommand[][] };

/** Data uploaded inside the step, from a buffer the recording owns. */
export interface UploadSource {
  /** The bytes (for a {@linkcode hostValue}, this step's). */
  bytes: Uint8Array;
  /** Index into {@linkcode StepRecording.producers} for a host value; -1 for a constant. */
  producer: number;
}

/** A {@linkcode hostValue} made inside the step. */
export interface RecordedProducer {
  produce: (host: StepHost) => Float32Array | Int32Array;
  /** Bytes it made (its length must not change between steps). */
  bytes: number;
  /** Numbers its producer closes over that every replay reuses (see {@linkcode hostValue}). */
  fixed: number[];
  /** The source buffer its upload copies from, when the step used it on the GPU. */
  source: GPUBuffer | null;
}

/** What one recorded call did on the GPU. */
export interface StepRecording {
  operations: QueueOperation[];
  /** Upload sources the recording owns (destroy with {@linkcode disposeRecording}). */
  uploads: Map<GPUBuffer, UploadSource>;
  producers: RecordedProducer[];
  /** The step's seeds and host inputs, and how its seeds were derived (`core/step_host.ts`). */
  host: { context: StepHostContext; derivations: SeedDerivations };
  /** Why it cannot be replayed; `null` when it can be considered. */
  unusable: string | null;
  /** Buffers tfjs's pool had handed out (to tensors) when the recording began / ended. */
  usedAtStart: Set<GPUBuffer>;
  usedAtEnd: Set<GPUBuffer>;
  /** Buffers given back to the pool while recording (a tensor disposed). */
  released: Set<GPUBuffer>;
  /** Dispatches recorded. */
  dispatches: number;
}

/**
 * Whether `buffer` held the same tensor all through `recording`'s step
 * (handed out before, still out after, never given back in between): a
 * parameter, optimiser state, a cached constant.
 */
export function livedThrough(recording: StepRecording, buffer: GPUBuffer): boolean {
  return recording.usedAtStart.has(buffer) && recording.usedAtEnd.has(buffer) &&
    !recording.released.has(buffer);
}

/** Destroys the upload sources a recording owns. */
export function disposeRecording(recording: StepRecording): void {
  for (const source of recording.uploads.keys()) source.destroy();
  recording.uploads.clear();
}
