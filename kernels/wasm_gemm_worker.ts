/**
 * The body of a helper thread of novalab's WASM kernels (`kernels/wasm_threads.ts`).
 * It runs in a `node:worker_threads` worker started from its source text
 * (`eval`), so it imports nothing and closes over nothing: it receives the
 * compiled kernel module, tfjs-backend-wasm's shared memory and its slot of
 * the control block, then serves calls of the module's exports (each a part
 * of a kernel: `gemm`, `gelu`, `ep_forward`, …) until told to stop.
 *
 * Control block (`Int32Array` over a `SharedArrayBuffer`, {@linkcode SLOT_INTS}
 * ints per helper): `SEQ` (the caller's job number; -1: stop), `DONE` (the
 * last job finished), `STATUS` (0 ok, 1 the call threw), `READY` (1 once the
 * module is instantiated). Arguments: a `Float64Array` slot of
 * {@linkcode SLOT_ARGS} numbers per helper: the index of the export to call
 * (in {@linkcode HelperLayout.functions}), the argument count, the arguments.
 *
 * @module
 */

/** Ints of the control block per helper. */
export const SLOT_INTS = 16;
/** Numbers of the argument block per helper. */
export const SLOT_ARGS = 32;
/** Bytes of a failed call's message per helper. */
export const MESSAGE_BYTES = 512;
/** Control slot: the job number the caller posted (-1 asks the helper to stop). */
export const SEQ = 0;
/** Control slot: the job number the helper finished. */
export const DONE = 1;
/** Control slot: 0 when the last job ran, 1 when it threw. */
export const STATUS = 2;
/** Control slot: 1 once the helper can take jobs. */
export const READY = 3;

/** What the helper receives once, as its first message. */
export interface HelperStart {
  /** The compiled kernels (imports a shared `env.memory`). */
  module: WebAssembly.Module;
  /** tfjs-backend-wasm's shared memory. */
  memory: WebAssembly.Memory;
  /** The control block. */
  control: SharedArrayBuffer;
  /** The argument block. */
  args: SharedArrayBuffer;
  /** Per helper {@linkcode MESSAGE_BYTES} bytes: the UTF-8 message of a failed call. */
  messages: SharedArrayBuffer;
  /** This helper's slot. */
  slot: number;
  /** The block layout: {@linkcode SLOT_INTS}, {@linkcode SLOT_ARGS}, the control slots and the argument count. */
  layout: HelperLayout;
}

/** The numbers of the block layout, sent to the helper (its body cannot import them). */
export interface HelperLayout {
  /** {@linkcode SLOT_INTS}. */
  ints: number;
  /** {@linkcode SLOT_ARGS}. */
  args: number;
  /** {@linkcode SEQ}. */
  seq: number;
  /** {@linkcode DONE}. */
  done: number;
  /** {@linkcode STATUS}. */
  status: number;
  /** {@linkcode READY}. */
  ready: number;
  /** The module's exports a job may call, by index (the job's first number). */
  functions: string[];
  /** {@linkcode MESSAGE_BYTES}. */
  messageBytes: number;
}

/** The layout this module defines, for {@linkcode HelperStart.layout}. */
export function helperLayout(functions: string[]): HelperLayout {
  return {
    ints: SLOT_INTS,
    args: SLOT_ARGS,
    seq: SEQ,
    done: DONE,
    status: STATUS,
    ready: READY,
    functions,
    messageBytes: MESSAGE_BYTES,
  };
}

/**
 * The helper's program. Serialised with `Function.prototype.toString`, so it
 * must stay self-contained: everything it needs arrives in its first message.
 */
export function gemmHelperMain(): void {
  // deno-lint-ignore no-explicit-any
  const { parentPort } = (globalThis as any).require("node:worker_threads");
  parentPort.once("message", (start: HelperStart) => {
    const { layout } = start;
    const ctl = new Int32Array(start.control);
    const args = new Float64Array(start.args);
    const base = start.slot * layout.ints, argBase = start.slot * layout.args;
    const instance = new WebAssembly.Instance(start.module, { env: { memory: start.memory } });
    const fns = layout.functions.map((name) => instance.exports[name] as (...a: number[]) => void);
    // The job number is read before READY is set: the caller posts only to a ready helper,
    // so a job posted at once is a change from this value and is not missed.
    let seen = Atomics.load(ctl, base + layout.seq);
    Atomics.store(ctl, base + layout.ready, 1);
    Atomics.notify(ctl, base + layout.ready);
    for (;;) {
      Atomics.wait(ctl, base + layout.seq, seen);
      seen = Atomics.load(ctl, base + layout.seq);
      if (seen === -1) break;
      try {
        const count = args[argBase + 1]!;
        fns[args[argBase]!]!(...args.subarray(argBase + 2, argBase + 2 + count));
        Atomics.store(ctl, base + layout.status, 0);
      } catch (e) {
        const text = new TextEncoder().encode(String(e)).subarray(0, layout.messageBytes - 1);
        const message = new Uint8Array(start.messages, start.slot * layout.messageBytes);
        message.set(text);
        message[text.length] = 0;
        Atomics.store(ctl, base + layout.status, 1);
      }
      Atomics.store(ctl, base + layout.done, seen);
      Atomics.notify(ctl, base + layout.done);
    }
    // Stopped (-1): the caller terminates the worker.
  });
}
