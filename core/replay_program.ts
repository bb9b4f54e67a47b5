/**
 * A recorded step (`core/step_recording.ts`) as one command list, so a replay
 * is one command buffer and one submit with no buffer writes.
 *
 * A step's submits are separated by `queue.writeBuffer`s: novalab's uniform
 * arena rewrites the same few buffers before every submit, so the dispatches
 * of different submits read different bytes from the same buffer. Those
 * bytes never change from step to step (the recordings compared equal), so
 * each submit's view of every written buffer is frozen here into a buffer of
 * its own, and the bind groups that read it are remade to read the frozen
 * copy. Only uniform buffers are frozen: a recording that writes a buffer
 * a dispatch could also write (a storage buffer) keeps its submits.
 *
 * @module
 */
import { boundBuffers, type EncodedCommand, type StepRecording } from "./step_recording.ts";

/** One command list for the whole step, and the frozen buffers it reads (destroy them after). */
export interface ReplayProgram {
  commands: EncodedCommand[];
  frozen: GPUBuffer[];
}

type PassCommand = Extract<EncodedCommand, { op: "pass" }>;

/**
 * One submit's frozen copy of each written buffer, made when first bound:
 * `contents` as the writes before the submit left them; new buffers go to `frozen`.
 */
function submitViews(
  device: GPUDevice,
  contents: Map<GPUBuffer, Uint8Array>,
  frozen: GPUBuffer[],
): (buffer: GPUBuffer) => GPUBuffer {
  const views = new Map<GPUBuffer, GPUBuffer>();
  return (buffer) => {
    let view = views.get(buffer);
    if (!view) {
      view = device.createBuffer({
        size: buffer.size,
        usage: buffer.usage & ~(GPUBufferUsage.MAP_READ | GPUBufferUsage.MAP_WRITE),
        mappedAtCreation: true,
      });
      new Uint8Array(view.getMappedRange()).set(contents.get(buffer)!);
      view.unmap();
      frozen.push(view);
      views.set(buffer, view);
    }
    return view;
  };
}

/** `pass` with every bind group that reads a written buffer remade over its frozen view. */
function rebindPass(
  device: GPUDevice,
  pass: PassCommand,
  written: { has(buffer: GPUBuffer): boolean },
  viewOf: (buffer: GPUBuffer) => GPUBuffer,
): PassCommand {
  let pipeline: GPUComputePipeline | null = null;
  const calls = pass.calls.map((call) => {
    if (call.op === "pipeline") pipeline = call.pipeline;
    if (call.op !== "bind") return call;
    const entries = boundBuffers(call.group);
    if (typeof entries === "string" || !entries.some((e) => written.has(e.buffer))) return call;
    const group = device.createBindGroup({
      layout: pipeline!.getBindGroupLayout(call.index),
      entries: entries.map((e) => ({
        binding: e.binding,
        resource: {
          buffer: written.has(e.buffer) ? viewOf(e.buffer) : e.buffer,
          offset: e.offset,
          size: e.size,
        },
      })),
    });
    return { ...call, group };
  });
  return { op: "pass", calls };
}

/** `recording` as one command list, or `null` when its writes cannot be frozen. */
export function singleSubmitProgram(
  device: GPUDevice,
  recording: StepRecording,
): ReplayProgram | null {
  const contents = new Map<GPUBuffer, Uint8Array>();
  for (const op of recording.operations) {
    if (op.op !== "write") continue;
    if ((op.buffer.usage & GPUBufferUsage.STORAGE) !== 0) return null;
    if (!contents.has(op.buffer)) contents.set(op.buffer, new Uint8Array(op.buffer.size));
  }
  const frozen: GPUBuffer[] = [];
  const commands: EncodedCommand[] = [];
  for (const op of recording.operations) {
    if (op.op === "write") {
      contents.get(op.buffer)!.set(op.bytes, op.offset);
      continue;
    }
    const viewOf = submitViews(device, contents, frozen);
    for (const c of op.commandBuffers.flat()) {
      if (c.op === "copy") {
        if (contents.has(c.src) || contents.has(c.dst)) return release(frozen);
        commands.push(c);
      } else commands.push(rebindPass(device, c, contents, viewOf));
    }
  }
  return { commands, frozen };
}

function release(frozen: GPUBuffer[]): null {
  for (const buffer of frozen) buffer.destroy();
  return null;
}

/** Encodes `commands` (passes and copies) into `encoder`. */
export function encodeCommands(encoder: GPUCommandEncoder, commands: EncodedCommand[]): void {
  for (const c of commands) {
    if (c.op === "copy") {
      encoder.copyBufferToBuffer(c.src, c.srcOffset, c.dst, c.dstOffset, c.size);
      continue;
    }
    const pass = encoder.beginComputePass();
    for (const call of c.calls) {
      if (call.op === "pipeline") pass.setPipeline(call.pipeline);
      else if (call.op === "bind") pass.setBindGroup(call.index, call.group);
      else pass.dispatchWorkgroups(call.x, call.y, call.z);
    }
    pass.end();
  }
}
