/**
 * A step function that, on WebGPU, is recorded once and then replayed
 * (`core/step_recording.ts`, `core/step_replay.ts`): the host cost of a step
 * drops from tfjs's engine and every kernel function (≈ 150 µs per dispatch)
 * to re-encoding the recorded dispatches (a few µs each).
 *
 * The first `warmup` calls run as written (pipelines compile, lazily made
 * state appears), the next two are recorded while they run, and if the two
 * recordings did the same work (`core/recording_compare.ts`) every later
 * call is a replay. If they differ, the step runs as written from then on and
 * {@linkcode ReplayableStep.stats} says why. A replay that finds its inputs
 * reshaped or a variable replaced records again. Off WebGPU the function just
 * runs.
 *
 * What a replayable step may do: read its inputs, parameters and state,
 * update state in place (novalab's AdamW does), make constants, and take
 * per-step host values through {@linkcode hostValue}; it returns fresh
 * tensors (a loss, metrics) and keeps no host state of its own across calls
 * except inside `hostValue` producers.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor } from "./tensor.ts";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { disposeRecording, Recorder, type StepRecording, watchBackend } from "./step_recording.ts";
import { compareRecordings } from "./recording_compare.ts";
import { bufferOf, StepReplay } from "./step_replay.ts";
import type { StepHostContext } from "./step_host.ts";

export { hostValue } from "./host_value.ts";
export { SAME_STEP, type StepHost, type StepHostContext } from "./step_host.ts";

/** Where a {@linkcode ReplayableStep} stands. */
export interface ReplayStats {
  /** `eager` off WebGPU or while warming up, `recording`, `replaying`, or `refused`. */
  mode: "eager" | "recording" | "replaying" | "refused";
  /** Why the step is not replayed (`refused`), or why it was last recorded again. */
  reason: string | null;
  /** Calls replayed so far. */
  replays: number;
  /** Steps recorded so far. */
  recordings: number;
  /** Dispatches per replay (0 before the first). */
  dispatches: number;
  /** Submits per replay (0 before the first). */
  submits: number;
  /** Host milliseconds inside `queue.submit` of all replays so far. */
  submitMs: number;
}

/** Options of {@linkcode ReplayableStep}. */
export interface ReplayableStepOptions {
  /** Calls run as written before the first recording (default 1). */
  warmup?: number;
}

type StepFunction = (inputs: Tensor[]) => Tensor[];

/** Runs a step function, replaying it on WebGPU once it is known to replay. */
export class ReplayableStep {
  #fn: StepFunction;
  #warmup: number;
  #calls = 0;
  #previous: { recording: StepRecording; inputs: Set<GPUBuffer> } | null = null;
  #replay: StepReplay | null = null;
  #stats: ReplayStats = {
    mode: "eager",
    reason: null,
    replays: 0,
    recordings: 0,
    dispatches: 0,
    submits: 0,
    submitMs: 0,
  };

  /** Wraps `fn` (inputs → fresh output tensors). */
  constructor(fn: StepFunction, options: ReplayableStepOptions = {}) {
    this.#fn = fn;
    this.#warmup = options.warmup ?? 1;
    if (tf.getBackend() === "webgpu") watchBackend(tf.backend() as WebGPUBackend);
  }

  /** A copy of where the step stands. */
  get stats(): ReplayStats {
    return { ...this.#stats, submitMs: this.#stats.submitMs + (this.#replay?.submitMs ?? 0) };
  }

  /**
   * Runs one step: as written, recorded, or replayed. `context`: the step's
   * seeds and host inputs, which its host values may read (`core/step_host.ts`).
   * The caller owns the outputs.
   */
  run(inputs: Tensor[], context: StepHostContext = {}): Tensor[] {
    this.#calls += 1;
    if (tf.getBackend() !== "webgpu" || this.#stats.mode === "refused") {
      this.#release();
      return this.#fn(inputs);
    }
    const backend = tf.backend() as WebGPUBackend;
    watchBackend(backend);
    if (this.#replay) {
      const why = this.#replay.mismatch(inputs);
      if (!why) {
        this.#stats.replays += 1;
        return this.#replay.run(inputs, context);
      }
      this.#release();
      this.#stats.reason = why;
    }
    if (this.#calls <= this.#warmup) return this.#fn(inputs);
    return this.#record(backend, inputs, context);
  }

  #record(backend: WebGPUBackend, inputs: Tensor[], context: StepHostContext): Tensor[] {
    this.#stats.mode = "recording";
    const inputBuffers = new Set(inputs.map((t) => bufferOf(backend, t)));
    const recorder = new Recorder(backend, context);
    let outputs: Tensor[];
    try {
      outputs = this.#fn(inputs);
    } catch (e) {
      disposeRecording(recorder.stop());
      throw e;
    }
    const recording = recorder.stop();
    this.#stats.recordings += 1;
    const previous = this.#previous;
    this.#previous = null;
    if (!previous) {
      if (recording.unusable) return this.#refuse(recording.unusable, outputs, [recording]);
      this.#previous = { recording, inputs: inputBuffers };
      return outputs;
    }
    const why = compareRecordings(previous.recording, recording, previous.inputs, inputBuffers);
    disposeRecording(previous.recording);
    if (why) return this.#refuse(why, outputs, [recording]);
    const plan = StepReplay.plan(backend, recording, inputs, outputs);
    if (typeof plan === "string") return this.#refuse(plan, outputs, [recording]);
    this.#replay = plan;
    this.#stats.mode = "replaying";
    this.#stats.dispatches = plan.dispatches;
    this.#stats.submits = plan.submits;
    return outputs;
  }

  #refuse(reason: string, outputs: Tensor[], recordings: StepRecording[]): Tensor[] {
    for (const r of recordings) disposeRecording(r);
    this.#stats.mode = "refused";
    this.#stats.reason = reason;
    return outputs;
  }

  #release(): void {
    this.#stats.submitMs += this.#replay?.submitMs ?? 0;
    this.#replay?.dispose();
    this.#replay = null;
    if (this.#previous) disposeRecording(this.#previous.recording);
    this.#previous = null;
  }

  /**
   * Lends the replayed step's temporaries to tfjs's pool until the next call
   * (see `StepReplay.lend`): call it before other device work between steps,
   * such as diagnostics, so that it reuses them. The next call takes them
   * back, or records the step again if one is still in use.
   */
  lend(): void {
    this.#replay?.lend();
  }

  /** Gives back what the replay holds (buffers, references); the step stays usable. */
  dispose(): void {
    this.#release();
    if (this.#stats.mode !== "refused") this.#stats.mode = "eager";
  }
}
