/**
 * Records what is encoded into one WebGPU command encoder (compute passes:
 * pipeline, bind group, dispatch size; buffer copies), for
 * `core/step_recording.ts`. Commands a replay could not repeat (timestamps,
 * indirect dispatches, dynamic offsets, clears, query resolves, texture copies)
 * are reported to the sink and still run.
 *
 * @module
 */

/** A command inside a compute pass. */
export type PassCall =
  | { op: "pipeline"; pipeline: GPUComputePipeline }
  | { op: "bind"; index: number; group: GPUBindGroup }
  | { op: "dispatch"; x: number; y: number; z: number };

/** A command of a command buffer. */
export type EncodedCommand =
  | { op: "pass"; calls: PassCall[] }
  | {
    op: "copy";
    src: GPUBuffer;
    srcOffset: number;
    dst: GPUBuffer;
    dstOffset: number;
    size: number;
  };

/** Where an instrumented encoder reports. */
export interface EncoderSink {
  /** A command that cannot be replayed was encoded. */
  refuse(reason: string): void;
  /** A dispatch was encoded. */
  dispatched(): void;
}

/**
 * Instruments `encoder` (its own methods, and those of the passes it
 * begins) and returns the list its commands are appended to.
 */
export function recordEncoder(encoder: GPUCommandEncoder, sink: EncoderSink): EncodedCommand[] {
  const commands: EncodedCommand[] = [];
  const begin = encoder.beginComputePass.bind(encoder);
  encoder.beginComputePass = (pd?: GPUComputePassDescriptor) => {
    if (pd?.timestampWrites) sink.refuse("a compute pass wrote timestamps (profiling)");
    const pass = begin(pd);
    const calls: PassCall[] = [];
    commands.push({ op: "pass", calls });
    const setPipeline = pass.setPipeline.bind(pass);
    pass.setPipeline = (pipeline) => {
      calls.push({ op: "pipeline", pipeline });
      setPipeline(pipeline);
    };
    const setBindGroup = pass.setBindGroup.bind(pass) as (...a: unknown[]) => void;
    pass.setBindGroup = ((index: number, group: GPUBindGroup | null, ...rest: unknown[]) => {
      if (!group || rest.length > 0) sink.refuse("a bind group with dynamic offsets or none");
      else calls.push({ op: "bind", index, group });
      setBindGroup(index, group, ...rest);
    }) as GPUComputePassEncoder["setBindGroup"];
    const dispatch = pass.dispatchWorkgroups.bind(pass);
    pass.dispatchWorkgroups = (x: number, y = 1, z = 1) => {
      calls.push({ op: "dispatch", x, y, z });
      sink.dispatched();
      dispatch(x, y, z);
    };
    pass.dispatchWorkgroupsIndirect = () => {
      sink.refuse("an indirect dispatch");
      throw new Error("core/step_recording.ts: indirect dispatches are not recorded");
    };
    return pass;
  };
  const copy = encoder.copyBufferToBuffer.bind(encoder) as (...a: unknown[]) => void;
  encoder.copyBufferToBuffer = ((...a: unknown[]) => {
    if (a.length !== 5) sink.refuse("a buffer copy without offsets");
    else {
      const [src, srcOffset, dst, dstOffset, size] = a as [
        GPUBuffer,
        number,
        GPUBuffer,
        number,
        number,
      ];
      commands.push({ op: "copy", src, srcOffset, dst, dstOffset, size });
    }
    copy(...a);
  }) as GPUCommandEncoder["copyBufferToBuffer"];
  for (const key of ["clearBuffer", "resolveQuerySet", "copyBufferToTexture"] as const) {
    const original = (encoder[key] as (...a: unknown[]) => void).bind(encoder);
    (encoder as unknown as Record<string, unknown>)[key] = (...a: unknown[]) => {
      sink.refuse(`a ${key} command`);
      original(...a);
    };
  }
  return commands;
}
