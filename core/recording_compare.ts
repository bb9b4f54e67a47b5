/**
 * Whether two recordings of consecutive steps (`core/step_recording.ts`) did
 * the same work up to which buffers they used: same pipelines, dispatch sizes,
 * uniform bytes and constant uploads, and buffers that correspond one to one.
 * A step whose host code decides something per step outside its inputs and
 * {@linkcode hostValue}s (a learning rate baked into a kernel's uniforms, a
 * tensor made from fresh random numbers, a parameter replaced instead of
 * updated in place) shows up here as a difference, and is not replayed.
 *
 * @module
 */
import {
  boundBuffers,
  type EncodedCommand,
  livedThrough,
  type StepRecording,
} from "./step_recording.ts";

/** A one-to-one correspondence of buffers, built as the recordings are walked. */
class BufferPairing {
  readonly aToB = new Map<GPUBuffer, GPUBuffer>();
  readonly bToA = new Map<GPUBuffer, GPUBuffer>();

  /** Pairs `a` with `b`; false when either is already paired with another. */
  pair(a: GPUBuffer, b: GPUBuffer): boolean {
    const knownB = this.aToB.get(a);
    const knownA = this.bToA.get(b);
    if (knownB !== undefined || knownA !== undefined) return knownB === b && knownA === a;
    if (a.size !== b.size || a.usage !== b.usage) return false;
    this.aToB.set(a, b);
    this.bToA.set(b, a);
    return true;
  }
}

function sameBytes(x: Uint8Array, y: Uint8Array): boolean {
  if (x.length !== y.length) return false;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
  return true;
}

function firstDifference(x: Uint8Array, y: Uint8Array): number {
  let i = 0;
  while (i < x.length && i < y.length && x[i] === y[i]) i++;
  return i;
}

/** `, read by <pipeline label>` for the first dispatch after write `at` that binds `buffer` at `byte`. */
function readerOf(r: StepRecording, at: number, buffer: GPUBuffer, byte: number): string {
  for (const op of r.operations.slice(at + 1)) {
    if (op.op !== "submit") continue;
    for (const commands of op.commandBuffers) {
      for (const c of commands) {
        if (c.op !== "pass") continue;
        let pipeline: GPUComputePipeline | null = null;
        for (const call of c.calls) {
          if (call.op === "pipeline") pipeline = call.pipeline;
          if (call.op !== "bind") continue;
          const entries = boundBuffers(call.group);
          if (typeof entries === "string") continue;
          const hit = entries.some((e) =>
            e.buffer === buffer && e.offset <= byte && byte < e.offset + e.size
          );
          if (hit) return `, read by ${pipeline?.label || "an unlabelled pipeline"}`;
        }
      }
    }
  }
  return "";
}

type CopyCommand = Extract<EncodedCommand, { op: "copy" }>;
type PassCommand = Extract<EncodedCommand, { op: "pass" }>;
type BindCall = Extract<PassCommand["calls"][number], { op: "bind" }>;

/** Two buffer copies (or uploads from host data) at the same place in both steps. */
function compareCopies(
  x: CopyCommand,
  y: CopyCommand,
  recordings: [StepRecording, StepRecording],
  pairing: BufferPairing,
  at: string,
): string | null {
  if (x.srcOffset !== y.srcOffset || x.dstOffset !== y.dstOffset || x.size !== y.size) {
    return `${at}: copies of different ranges`;
  }
  const ua = recordings[0].uploads.get(x.src);
  const ub = recordings[1].uploads.get(y.src);
  if (ua || ub) {
    if (!ua || !ub) return `${at}: an upload against a copy`;
    if (ua.producer !== ub.producer) return `${at}: uploads of different host values`;
    if (ua.producer < 0 && !sameBytes(ua.bytes, ub.bytes)) {
      return `${at}: a tensor of ${ua.bytes.length} bytes made inside the step from host ` +
        `data holds different values in consecutive steps — make it with hostValue() or ` +
        `pass it in as an input`;
    }
  } else if (!pairing.pair(x.src, y.src)) return `${at}: copies from different buffers`;
  return pairing.pair(x.dst, y.dst) ? null : `${at}: copies into different buffers`;
}

/** Two bind groups bound at the same place: same ranges over corresponding buffers. */
function compareBindGroups(p: BindCall, q: BindCall, pairing: BufferPairing, call: string) {
  if (p.index !== q.index) return `${call}: bind groups at different indices`;
  const ea = boundBuffers(p.group);
  const eb = boundBuffers(q.group);
  if (typeof ea === "string") return `${call}: ${ea}`;
  if (typeof eb === "string") return `${call}: ${eb}`;
  if (ea.length !== eb.length) return `${call}: bind groups of different sizes`;
  for (let k = 0; k < ea.length; k++) {
    const u = ea[k]!;
    const v = eb[k]!;
    if (u.binding !== v.binding || u.offset !== v.offset || u.size !== v.size) {
      return `${call}: binding ${u.binding} differs in range`;
    }
    if (!pairing.pair(u.buffer, v.buffer)) {
      return `${call}: binding ${u.binding} uses buffers that do not correspond`;
    }
  }
  return null;
}

/** Two compute passes: the same pipelines, dispatch sizes and bind groups, in order. */
function comparePasses(x: PassCommand, y: PassCommand, pairing: BufferPairing, at: string) {
  if (x.calls.length !== y.calls.length) return `${at}: passes of different lengths`;
  for (let j = 0; j < x.calls.length; j++) {
    const p = x.calls[j]!;
    const q = y.calls[j]!;
    const call = `${at}, call ${j}`;
    if (p.op !== q.op) return `${call}: ${p.op} against ${q.op}`;
    if (p.op === "pipeline" && q.op === "pipeline") {
      if (p.pipeline !== q.pipeline) return `${call}: different pipelines`;
    } else if (p.op === "dispatch" && q.op === "dispatch") {
      if (p.x !== q.x || p.y !== q.y || p.z !== q.z) {
        return `${call}: dispatch ${p.x}×${p.y}×${p.z} against ${q.x}×${q.y}×${q.z}`;
      }
    } else if (p.op === "bind" && q.op === "bind") {
      const why = compareBindGroups(p, q, pairing, call);
      if (why) return why;
    }
  }
  return null;
}

/** Two command buffers' commands, one by one. */
function compareCommands(
  a: EncodedCommand[],
  b: EncodedCommand[],
  recordings: [StepRecording, StepRecording],
  pairing: BufferPairing,
  where: string,
): string | null {
  if (a.length !== b.length) return `${where}: ${a.length} against ${b.length} commands`;
  for (let i = 0; i < a.length; i++) {
    const x = a[i]!;
    const y = b[i]!;
    const at = `${where}, command ${i}`;
    if (x.op !== y.op) return `${at}: ${x.op} against ${y.op}`;
    const why = x.op === "copy" && y.op === "copy"
      ? compareCopies(x, y, recordings, pairing, at)
      : x.op === "pass" && y.op === "pass"
      ? comparePasses(x, y, pairing, at)
      : null;
    if (why) return why;
  }
  return null;
}

/** The steps' seeds, host inputs and host values: the same counts, sizes and fixed numbers. */
function compareHost(a: StepRecording, b: StepRecording): string | null {
  const [ca, cb] = [a.host.context, b.host.context];
  if (
    (ca.seeds?.length ?? 0) !== (cb.seeds?.length ?? 0) ||
    (ca.inputs?.length ?? 0) !== (cb.inputs?.length ?? 0)
  ) return "the steps were given different numbers of seeds or host inputs";
  if (a.producers.length !== b.producers.length) {
    return `${a.producers.length} against ${b.producers.length} host values`;
  }
  for (let i = 0; i < a.producers.length; i++) {
    const [x, y] = [a.producers[i]!, b.producers[i]!];
    if (x.bytes !== y.bytes) return `host value ${i} has ${x.bytes} bytes, then ${y.bytes}`;
    if (x.fixed.length !== y.fixed.length || x.fixed.some((v, k) => !Object.is(v, y.fixed[k]))) {
      return `host value ${i} was made from [${x.fixed}], then [${y.fixed}]: a number that ` +
        `changes per step (a learning rate) must reach it as a function of the step`;
    }
  }
  return null;
}

/** The submits' command buffers, in queue order. */
function compareSubmits(a: StepRecording, b: StepRecording, pairing: BufferPairing) {
  for (let i = 0; i < a.operations.length; i++) {
    const x = a.operations[i]!;
    const y = b.operations[i]!;
    if (x.op !== "submit" || y.op !== "submit") continue;
    if (x.commandBuffers.length !== y.commandBuffers.length) {
      return `queue operation ${i}: submits of different sizes`;
    }
    for (let j = 0; j < x.commandBuffers.length; j++) {
      const why = compareCommands(
        x.commandBuffers[j]!,
        y.commandBuffers[j]!,
        [a, b],
        pairing,
        `submit ${i}`,
      );
      if (why) return why;
    }
  }
  return null;
}

/** The buffer writes (uniforms): same bytes at the same offsets of corresponding buffers. */
function compareWrites(a: StepRecording, b: StepRecording, pairing: BufferPairing) {
  for (let i = 0; i < a.operations.length; i++) {
    const x = a.operations[i]!;
    const y = b.operations[i]!;
    if (x.op !== "write" || y.op !== "write") continue;
    if (x.offset !== y.offset || !sameBytes(x.bytes, y.bytes)) {
      return `queue operation ${i}: a buffer write (uniforms) with different bytes${
        readerOf(b, i, y.buffer, y.offset + firstDifference(x.bytes, y.bytes))
      } — a kernel's uniforms change from step to step; pass such values as hostValue() tensors`;
    }
    if (!pairing.pair(x.buffer, y.buffer)) return `queue operation ${i}: writes to other buffers`;
  }
  return null;
}

/**
 * Why recording `b` (of the step after `a`) is not the same work as `a`, or
 * `null` when it is. Buffers that held live tensors all through either step
 * (parameters, optimiser state, cached constants) must be the same buffers
 * in both: state replaced instead of updated in place cannot be replayed.
 * `inputsA` and `inputsB` are the buffers of the steps' inputs (new every
 * step, exempt).
 */
export function compareRecordings(
  a: StepRecording,
  b: StepRecording,
  inputsA: ReadonlySet<GPUBuffer>,
  inputsB: ReadonlySet<GPUBuffer>,
): string | null {
  if (a.unusable) return a.unusable;
  if (b.unusable) return b.unusable;
  const host = compareHost(a, b);
  if (host) return host;
  const ops = a.operations;
  if (ops.length !== b.operations.length) {
    return `${ops.length} against ${b.operations.length} queue operations`;
  }
  for (let i = 0; i < ops.length; i++) {
    if (ops[i]!.op !== b.operations[i]!.op) {
      return `queue operation ${i}: ${ops[i]!.op} against ${b.operations[i]!.op}`;
    }
  }
  const pairing = new BufferPairing();
  // The work first (a different dispatch explains different uniforms), then the uniforms.
  const work = compareSubmits(a, b, pairing) ?? compareWrites(a, b, pairing);
  if (work) return work;
  for (const [bufA, bufB] of pairing.aToB) {
    const heldA = livedThrough(a, bufA) && !inputsA.has(bufA);
    const heldB = livedThrough(b, bufB) && !inputsB.has(bufB);
    if ((heldA || heldB) && bufA !== bufB) {
      return `a tensor that lives across steps (${bufB.size} bytes) is in a different buffer ` +
        `each step: state must be updated in place to be replayed`;
    }
  }
  return null;
}
