/**
 * Host values: tensors whose values the host computes afresh for every step
 * (a learning rate, an optimiser's bias corrections, random numbers drawn on
 * the CPU, a batch's caption embeddings). While a step is recorded
 * (`core/step_recording.ts`) each host value's producer is noted, and a
 * replay (`core/step_replay.ts`) runs the producers again, in order, and
 * writes their bytes where the recorded step had them.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "./tensor.ts";
import type { RecorderInternals } from "./backend_watch.ts";
import { SAME_STEP, type StepHost } from "./step_host.ts";

/** What a host value tells the step being recorded (`core/step_recording.ts`'s `Recorder`). */
export interface ActiveRecording {
  /** The step's counterparts of seeds and host inputs, as the recording sees them. */
  readonly host: StepHost;
  /** Notes a host value made inside the step: its tensor, producer, size and fixed numbers. */
  noteProducer(
    dataId: object,
    produce: (host: StepHost) => Float32Array | Int32Array,
    bytes: number,
    fixed: readonly number[],
  ): void;
  /** Marks the recording unusable for `reason` (the first reason is kept). */
  refuse(reason: string): void;
}

let active: ActiveRecording | null = null;

/** The step being recorded, if any. */
export function activeRecording(): ActiveRecording | null {
  return active;
}

/** Sets (or, with `null`, clears) the step being recorded; only the recorder calls it. */
export function setActiveRecording(recording: ActiveRecording | null): void {
  active = recording;
}

/**
 * A tensor of values the host computes afresh for every step (a learning
 * rate, an optimiser's bias corrections, random numbers drawn on the CPU).
 * `produce` gets a {@linkcode StepHost}: the step's counterparts of seeds and
 * host inputs it closes over (`core/step_host.ts`). Runs `produce` now;
 * inside a recorded step it also runs at every replay, in the order the step
 * made its host values, so its side effects (a step count, a generator's
 * state) happen once per step either way. `produce` must return the same
 * number of values every time. `fixed` lists numbers the step passed in that
 * `produce` closes over (an optimiser's learning rate given as a number):
 * replays reuse them, so two recordings in which they differ are not
 * replayed.
 */
export function hostValue(
  produce: (host: StepHost) => Float32Array | Int32Array,
  shape?: number[],
  fixed: readonly number[] = [],
): Tensor {
  const values = produce(active?.host ?? SAME_STEP);
  const tensor = tf.tensor(
    values,
    shape ?? [values.length],
    values instanceof Int32Array ? "int32" : "float32",
  );
  active?.noteProducer(tensor.dataId, produce, values.byteLength, fixed);
  // On the GPU at once: tfjs would otherwise compute small ops on it on the
  // CPU and upload their results as constants of the step.
  if (tf.getBackend() === "webgpu") {
    (tf.backend() as unknown as RecorderInternals).uploadToGPU(tensor.dataId);
  }
  return tensor;
}

/**
 * Keeps the step being recorded, if any, from being replayed, for `reason`
 * (host code that did something a replay could not follow).
 */
export function refuseRecording(reason: string): void {
  active?.refuse(reason);
}
