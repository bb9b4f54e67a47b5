/**
 * Issues a recorded step (`core/step_recording.ts`) again: new inputs copied
 * into the recorded step's input buffers, host values produced afresh, every
 * `writeBuffer` and command buffer re-encoded in order, outputs copied into
 * new tensors. No tfjs op runs, so a step costs the WebGPU calls alone.
 *
 * Replaying reuses the recorded step's buffers, so the replay takes them:
 * buffers the step used for its temporaries are taken out of tfjs's pool, and
 * the recorded step's inputs and outputs are held by a reference of the
 * replay's own, until {@linkcode StepReplay.dispose}. Tensors that live
 * across steps (parameters, optimiser state, cached constants) stay their
 * owners': if one is disposed or replaced, the replay knows (tfjs's pool
 * tells it) and refuses to run.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { submitPendingWork } from "./webgpu_device.ts";
import {
  boundBuffers,
  disposeRecording,
  type EncodedCommand,
  livedThrough,
  onBufferRelease,
  type RecorderInternals,
  type StepRecording,
} from "./step_recording.ts";
import { replayHost, type StepHostContext } from "./step_host.ts";
import { encodeCommands, type ReplayProgram, singleSubmitProgram } from "./replay_program.ts";

interface Pool {
  freeBuffers: Map<string, GPUBuffer[]>;
  numFreeBuffers: number;
}

interface Internals extends RecorderInternals {
  tensorMap: RecorderInternals["tensorMap"] & {
    get(id: object): { resource: unknown } | undefined;
  };
  bufferManager: RecorderInternals["bufferManager"] & Pool;
  incRef(dataId: object): void;
}

/** The GPU buffer holding `t` (uploading it first if it is still on the CPU). */
export function bufferOf(backend: WebGPUBackend, t: tf.Tensor): GPUBuffer {
  const b = backend as unknown as Internals;
  b.uploadToGPU(t.dataId);
  const resource = b.tensorMap.get(t.dataId)?.resource;
  if (!(resource instanceof GPUBuffer)) {
    throw new Error(`core/step_replay.ts: a [${t.shape}] ${t.dtype} tensor has no GPU buffer`);
  }
  return resource;
}

/** Another reference to `dataId` (as tfjs's Identity makes), kept out of tidy scopes. */
function holdData(backend: WebGPUBackend, dataId: object, shape: number[], dtype: tf.DataType) {
  (backend as unknown as Internals).incRef(dataId);
  return tf.keep(tf.engine().makeTensorFromDataId(dataId, shape, dtype, backend));
}

function buffersOf(recording: StepRecording): Set<GPUBuffer> {
  const all = new Set<GPUBuffer>();
  const visit = (commands: EncodedCommand[]) => {
    for (const c of commands) {
      if (c.op === "copy") {
        all.add(c.src);
        all.add(c.dst);
        continue;
      }
      for (const call of c.calls) {
        if (call.op !== "bind") continue;
        const entries = boundBuffers(call.group);
        if (typeof entries === "string") throw new Error(`core/step_replay.ts: ${entries}`);
        for (const e of entries) all.add(e.buffer);
      }
    }
  };
  for (const op of recording.operations) {
    if (op.op === "write") all.add(op.buffer);
    else for (const commands of op.commandBuffers) visit(commands);
  }
  return all;
}

/** A recorded step ready to issue again. */
export class StepReplay {
  #b: Internals;
  #recording: StepRecording;
  #inputs: { tensor: tf.Tensor; buffer: GPUBuffer }[];
  #outputs: { tensor: tf.Tensor; buffer: GPUBuffer }[];
  #claimed: { key: string; buffer: GPUBuffer }[];
  #stale: string | null = null;
  #lent = false;
  #written: { values: unknown }[];
  #program: ReplayProgram | null;
  #unwatch: () => void;
  /** Dispatches per replay. */
  readonly dispatches: number;
  /** Submits per replay. */
  readonly submits: number;
  /** Host milliseconds spent inside `queue.submit` by all replays so far. */
  submitMs = 0;

  private constructor(
    backend: WebGPUBackend,
    recording: StepRecording,
    parts: {
      inputs: { tensor: tf.Tensor; buffer: GPUBuffer }[];
      outputs: { tensor: tf.Tensor; buffer: GPUBuffer }[];
      lived: Set<GPUBuffer>;
      claimed: { key: string; buffer: GPUBuffer }[];
      written: { values: unknown }[];
    },
  ) {
    this.#b = backend as unknown as Internals;
    this.#recording = recording;
    this.#inputs = parts.inputs;
    this.#outputs = parts.outputs;
    this.#claimed = parts.claimed;
    this.#written = parts.written;
    this.#unwatch = onBufferRelease(backend, (buffer) => {
      if (parts.lived.has(buffer)) {
        this.#stale ??= `a tensor the step reads or updates (${buffer.size} bytes) was ` +
          `disposed or replaced since the step was recorded`;
      }
    });
    this.dispatches = recording.dispatches;
    this.#program = singleSubmitProgram(this.#b.device, recording);
    this.submits = this.#program
      ? 1
      : 1 + recording.operations.filter((op) => op.op === "submit").length;
  }

  /**
   * Takes over `recording` (of a step called with `inputs` that returned
   * `outputs`, all still alive) and the buffers it used; or says why it
   * cannot (and takes nothing).
   */
  static plan(
    backend: WebGPUBackend,
    recording: StepRecording,
    inputs: tf.Tensor[],
    outputs: tf.Tensor[],
  ): StepReplay | string {
    const b = backend as unknown as Internals;
    const inputBuffers = inputs.map((t) => bufferOf(backend, t));
    const outputBuffers = outputs.map((t) => bufferOf(backend, t));
    const slots = new Set([...inputBuffers, ...outputBuffers]);
    if (slots.size !== inputs.length + outputs.length) {
      return "an output or input shares its buffer with another (return fresh tensors)";
    }
    const rewritten = new Set<GPUBuffer>();
    for (const op of recording.operations) if (op.op === "write") rewritten.add(op.buffer);
    const freeAt = new Map<GPUBuffer, string>();
    for (const [key, list] of b.bufferManager.freeBuffers) for (const f of list) freeAt.set(f, key);
    const lived: GPUBuffer[] = [];
    const claim: { key: string; buffer: GPUBuffer }[] = [];
    for (const buffer of buffersOf(recording)) {
      if (slots.has(buffer) || recording.uploads.has(buffer)) continue;
      if (livedThrough(recording, buffer)) lived.push(buffer);
      else if (recording.usedAtEnd.has(buffer)) {
        return `the step leaves a tensor it made (${buffer.size} bytes) alive without ` +
          `returning it: return it as an output, or update state in place`;
      } else if (freeAt.has(buffer)) claim.push({ key: freeAt.get(buffer)!, buffer });
      else if (!rewritten.has(buffer)) {
        return `the step used a ${buffer.size}-byte buffer that no tensor owns and tfjs's ` +
          `pool does not hold`;
      }
    }
    for (const { key, buffer } of claim) {
      const list = b.bufferManager.freeBuffers.get(key)!;
      list.splice(list.indexOf(buffer), 1);
      b.bufferManager.numFreeBuffers -= 1;
    }
    const hold = (t: tf.Tensor, i: number, buffers: GPUBuffer[]) => ({
      tensor: holdData(backend, t.dataId, t.shape, t.dtype),
      buffer: buffers[i]!,
    });
    // Variables the step may write: their CPU copies (cached by a read) go stale at every replay.
    const written = Object.values(tf.engine().registeredVariables)
      .map((v) => b.tensorMap.get(v.dataId) as { resource: unknown; values: unknown } | undefined)
      .filter((d): d is { resource: GPUBuffer; values: unknown } =>
        d !== undefined && d.resource instanceof GPUBuffer && lived.includes(d.resource)
      );
    return new StepReplay(backend, recording, {
      inputs: inputs.map((t, i) => hold(t, i, inputBuffers)),
      outputs: outputs.map((t, i) => hold(t, i, outputBuffers)),
      lived: new Set(lived),
      claimed: claim,
      written,
    });
  }

  /**
   * Why `inputs` cannot be replayed now (other shapes, or a tensor the step
   * reads or updates was disposed or replaced since it was recorded), or `null`.
   */
  mismatch(inputs: tf.Tensor[]): string | null {
    if (inputs.length !== this.#inputs.length) {
      return `${inputs.length} inputs, recorded with ${this.#inputs.length}`;
    }
    for (let i = 0; i < inputs.length; i++) {
      const want = this.#inputs[i]!.tensor;
      const got = inputs[i]!;
      if (got.dtype !== want.dtype || !tf.util.arraysEqual(got.shape, want.shape)) {
        return `input ${i} is ${got.dtype} [${got.shape}], recorded as ${want.dtype} [${want.shape}]`;
      }
    }
    submitPendingWork(this.#b); // disposals wait for a submit: let them reach the pool
    this.#stale ??= this.#reclaim();
    return this.#stale;
  }

  /**
   * Puts the step's temporaries back in tfjs's pool until the next replay, so
   * that other device work in between (diagnostics, an evaluation) reuses them
   * instead of allocating beside them. The next {@linkcode mismatch} takes
   * them back, or, when one is still in use, says so (the step is then
   * recorded again).
   */
  lend(): void {
    if (this.#lent || this.#stale) return;
    submitPendingWork(this.#b); // work issued so far reads them before anything else can
    this.#returnClaimed();
    this.#lent = true;
  }

  /** Takes the lent temporaries back out of the pool; why not, when one is in use. */
  #reclaim(): string | null {
    if (!this.#lent) return null;
    this.#lent = false;
    const pool = this.#b.bufferManager;
    const taken = this.#claimed.filter(({ key, buffer }) =>
      !pool.freeBuffers.get(key)?.includes(buffer)
    );
    if (taken.length > 0) {
      this.#claimed = []; // all of them are the pool's now
      return `${taken.length} of the step's temporaries lent to other work are still in use`;
    }
    for (const { key, buffer } of this.#claimed) {
      const list = pool.freeBuffers.get(key)!;
      list.splice(list.indexOf(buffer), 1);
      pool.numFreeBuffers -= 1;
    }
    return null;
  }

  #returnClaimed(): void {
    for (const { key, buffer } of this.#claimed) {
      const list = this.#b.bufferManager.freeBuffers.get(key);
      if (list) {
        list.push(buffer);
        this.#b.bufferManager.numFreeBuffers += 1;
      } else buffer.destroy();
    }
  }

  /**
   * Issues the step with `inputs` and `context` (its seeds and host inputs;
   * check {@linkcode mismatch} first); returns new output tensors.
   */
  run(inputs: tf.Tensor[], context: StepHostContext = {}): tf.Tensor[] {
    const why = this.mismatch(inputs);
    if (why) throw new Error(`core/step_replay.ts: cannot replay: ${why}`);
    const b = this.#b;
    const backend = b as unknown as WebGPUBackend;
    const sources = inputs.map((t) => bufferOf(backend, t));
    submitPendingWork(backend);
    const { host } = this.#recording;
    const replayed = replayHost(host.context, host.derivations, context);
    for (const p of this.#recording.producers) {
      const values = p.produce(replayed);
      if (values.byteLength !== p.bytes) {
        throw new Error(
          `core/step_replay.ts: a host value gave ${values.byteLength} bytes, recorded with ${p.bytes}`,
        );
      }
      if (p.source) b.queue.writeBuffer(p.source, 0, values as Float32Array<ArrayBuffer>);
    }
    const outputs = this.#outputs.map(({ tensor }) => {
      const dataId = (b as unknown as { write(v: null, s: number[], d: string): object })
        .write(null, tensor.shape, tensor.dtype);
      const out = tf.engine().makeTensorFromDataId(dataId, tensor.shape, tensor.dtype, backend);
      return { tensor: out, buffer: bufferOf(backend, out) };
    });
    let first: GPUCommandEncoder | null = b.device.createCommandEncoder();
    for (let i = 0; i < sources.length; i++) {
      const slot = this.#inputs[i]!.buffer;
      if (sources[i] !== slot) first.copyBufferToBuffer(sources[i]!, 0, slot, 0, slot.size);
    }
    // One command list when the uniforms could be frozen (core/replay_program.ts), else the
    // recorded submits with their uniform writes in between.
    if (this.#program) encodeCommands(first, this.#program.commands);
    for (const op of this.#program ? [] : this.#recording.operations) {
      if (op.op === "write") {
        b.queue.writeBuffer(op.buffer, op.offset, op.bytes);
        continue;
      }
      const finished = op.commandBuffers.map((commands) => {
        const encoder = first ?? b.device.createCommandEncoder();
        first = null;
        encodeCommands(encoder, commands);
        return encoder.finish();
      });
      this.#submit(finished);
    }
    const last = first ?? b.device.createCommandEncoder();
    this.#outputs.forEach(({ buffer }, i) => {
      last.copyBufferToBuffer(buffer, 0, outputs[i]!.buffer, 0, buffer.size);
    });
    this.#submit([last.finish()]);
    for (const data of this.#written) data.values = null;
    return outputs.map((o) => o.tensor);
  }

  #submit(commandBuffers: GPUCommandBuffer[]): void {
    const t0 = performance.now();
    this.#b.queue.submit(commandBuffers);
    this.submitMs += performance.now() - t0;
  }

  /** Gives the buffers back to tfjs's pool and drops the references it held. */
  dispose(): void {
    this.#unwatch();
    for (const buffer of this.#program?.frozen ?? []) buffer.destroy();
    this.#program = null;
    if (!this.#lent) this.#returnClaimed(); // lent ones are in the pool already
    this.#claimed = [];
    for (const { tensor } of [...this.#inputs, ...this.#outputs]) tensor.dispose();
    this.#inputs = [];
    this.#outputs = [];
    disposeRecording(this.#recording);
  }
}
