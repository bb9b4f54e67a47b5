/**
 * novalab's generated WebAssembly kernels (`kernels/wasm_gemm.ts`,
 * `kernels/wasm_rows.ts`, `kernels/wasm_gelu.ts`), instantiated against tfjs-backend-wasm's own
 * memory so they read and write tensors in place, plus a scratch buffer
 * allocated from tfjs's heap. One instance per backend instance. When that
 * memory is shared (tfjs's threaded build, `core/wasm_threaded.ts`), matrix
 * products, GELU, the Epps–Pulley kernels, the attention's softmax gradient
 * and AdamW are split over helper threads (`kernels/wasm_threads.ts`,
 * `THREADED_FUNCTIONS`).
 *
 * Environment switch: `NOVALAB_WASM_KERNELS=0` keeps tfjs's stock WASM op
 * compositions everywhere (A/B measurements).
 *
 * @module
 */
import { envIs } from "../core/env.ts";
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { ModuleBuilder } from "./wasm_asm.ts";
import { addGemm } from "./wasm_gemm.ts";
import { addRowKernels } from "./wasm_rows.ts";
import { addGeluKernels } from "./wasm_gelu.ts";
import { addSoftmaxKernel } from "./wasm_softmax.ts";
import { addEppsPulleyKernels } from "./wasm_epps_pulley.ts";
import { addAdamWKernel } from "./wasm_adamw.ts";
import { addSumSquaresKernel } from "./wasm_grad_norm.ts";
import { GEMM_ARGUMENTS, type GemmCall } from "./wasm_gemm_split.ts";
import { WasmKernelThreads, wasmThreadsRequested } from "./wasm_threads.ts";

/** The environment switch that turns novalab's WASM kernels off. */
export const WASM_KERNELS_ENV = "NOVALAB_WASM_KERNELS";

/** Signature of the generated `gemm` (see `kernels/wasm_gemm.ts`). */
export type GemmFn = (
  M: number,
  N: number,
  K: number,
  A: number,
  sam: number,
  sak: number,
  B: number,
  sbk: number,
  sbn: number,
  C: number,
  ldc: number,
  bias: number,
  flags: number,
  G1: number,
  G2: number,
  sa1: number,
  sa2: number,
  sb1: number,
  sb2: number,
  sc1: number,
  sc2: number,
  scratch: number,
  alpha: number,
) => void;

/** The generated functions (addresses in bytes; see their modules). */
export interface WasmKernelExports {
  /** Strided, batched matrix product. */
  gemm: GemmFn;
  /** `kernels/wasm_rows.ts`. */
  [name: string]: (...args: number[]) => void;
}

/** The kernels bound to one backend, with its heap and a growable scratch buffer. */
export interface WasmKernels {
  /** The generated functions. */
  fns: WasmKernelExports;
  /** The backend they run on. */
  backend: BackendWasm;
  /**
   * Runs the generated `gemm` on `call`, split over the helper threads when
   * there are any (`kernels/wasm_threads.ts`); the same bits either way.
   */
  gemm(call: GemmCall): void;
  /** The helper threads (absent: one thread). */
  threads?: WasmKernelThreads;
  /** Byte address of at least `floats` floats of scratch (valid until the next call). */
  scratch(floats: number): number;
  /**
   * False when a kernel wrote past the floats asked of the last
   * {@linkcode WasmKernels.scratch} call (a guard pattern follows them; tests check it).
   */
  scratchGuardIntact(): boolean;
  /** Byte address of a tensor's data. */
  address(t: tf.TensorInfo): number;
  /** A float32 view of a tensor's data (re-create it after anything allocates). */
  view(t: tf.TensorInfo): Float32Array;
  /** A float32 view of `floats` floats at byte address `at` (re-create it after any allocation). */
  floats(at: number, floats: number): Float32Array;
  /** Allocates `bytes` on tfjs's heap; release with {@linkcode WasmKernels.free}. */
  malloc(bytes: number): number;
  /** Releases what {@linkcode WasmKernels.malloc} returned. */
  free(at: number): void;
}

/** The parts of tfjs-backend-wasm's Emscripten module used here. */
interface EmscriptenHeap {
  _malloc(bytes: number): number;
  _free(at: number): void;
  HEAPU8: Uint8Array;
  /** The single-threaded build exports its memory. */
  asm?: { memory?: unknown };
  /** The threaded build creates a shared memory and imports it. */
  wasmMemory?: unknown;
}

/** Guard words after the scratch floats a kernel asked for. */
const SCRATCH_GUARD = 16;
const GUARD_WORD = 0x7fc0dead;

const moduleBytes = new Map<boolean, Uint8Array>();
const compiled = new Map<boolean, WebAssembly.Module>();
const instances = new WeakMap<object, WasmKernels>();
let enabled: boolean | undefined;

/** False when `NOVALAB_WASM_KERNELS=0` (an unreadable environment counts as unset). */
export function wasmKernelsEnabled(): boolean {
  enabled ??= !envIs(WASM_KERNELS_ENV, "0");
  return enabled;
}

/** Overrides {@linkcode wasmKernelsEnabled} (A/B runs, tests); `undefined` reads the env again. */
export function setWasmKernelsEnabled(on: boolean | undefined): void {
  enabled = on;
}

/** True when novalab's WASM kernels run now: the wasm backend is active and they are enabled. */
export function wasmKernelsActive(): boolean {
  return tf.getBackend() === "wasm" && wasmKernelsEnabled();
}

/** The generated module's bytes (built once per memory kind; `shared`: a shared memory import). */
export function wasmKernelModuleBytes(shared = false): Uint8Array {
  let bytes = moduleBytes.get(shared);
  if (!bytes) {
    const m = new ModuleBuilder();
    addGemm(m);
    addRowKernels(m);
    addGeluKernels(m);
    addSoftmaxKernel(m);
    addEppsPulleyKernels(m);
    addAdamWKernel(m);
    addSumSquaresKernel(m);
    bytes = m.encode({ sharedMemory: shared });
    moduleBytes.set(shared, bytes);
  }
  return bytes;
}

function compiledKernels(shared: boolean): WebAssembly.Module {
  let module = compiled.get(shared);
  if (!module) {
    module = new WebAssembly.Module(wasmKernelModuleBytes(shared) as Uint8Array<ArrayBuffer>);
    compiled.set(shared, module);
  }
  return module;
}

/** tfjs-backend-wasm's memory, or undefined when it does not expose one. */
function heapMemory(heap: EmscriptenHeap): WebAssembly.Memory | undefined {
  const memory = heap.asm?.memory ?? heap.wasmMemory;
  return memory instanceof WebAssembly.Memory ? memory : undefined;
}

/**
 * True when `backend` (default: the active wasm backend) keeps its tensors in
 * a shared memory (tfjs's threaded build), so novalab's kernels can run on
 * helper threads.
 */
export function wasmMemoryShared(backend = tf.backend() as BackendWasm): boolean {
  const memory = heapMemory(backend.wasm as unknown as EmscriptenHeap);
  return memory?.buffer instanceof SharedArrayBuffer;
}

/**
 * Threads novalab's WASM kernels run on with `backend`: `NOVALAB_WASM_THREADS`
 * (or the cores) on a shared memory with the kernels enabled, else 1.
 */
export function wasmKernelThreads(backend = tf.backend() as BackendWasm): number {
  return wasmKernelsEnabled() && wasmMemoryShared(backend) ? wasmThreadsRequested() : 1;
}

/** The kernels bound to `backend` (default: the active wasm backend). */
export function wasmKernels(backend = tf.backend() as BackendWasm): WasmKernels {
  const known = instances.get(backend);
  if (known) return known;
  const heap = backend.wasm as unknown as EmscriptenHeap;
  const memory = heapMemory(heap);
  if (!memory) {
    throw new Error(
      "kernels/wasm_runtime.ts: tfjs-backend-wasm does not expose its WebAssembly.Memory " +
        "(wasm.asm.memory or wasm.wasmMemory); expected @tensorflow/tfjs-backend-wasm 4.22.0 " +
        "(pinned in deno.json)",
    );
  }
  const shared = memory.buffer instanceof SharedArrayBuffer;
  const module = compiledKernels(shared);
  const instance = new WebAssembly.Instance(module, { env: { memory } });
  const fns = instance.exports as unknown as WasmKernelExports;
  const allocator = {
    malloc: (bytes: number) => heap._malloc(bytes) >>> 0,
    free: (at: number) => heap._free(at),
  };
  const helpers = shared && wasmKernelsEnabled() ? wasmThreadsRequested() - 1 : 0;
  const threads = helpers > 0
    ? new WasmKernelThreads(module, memory, helpers, instance.exports, allocator)
    : undefined;
  const gemm = fns.gemm as unknown as (...args: number[]) => void;
  let scratchAt = 0, scratchFloats = 0, guardAt = 0;
  const kernels: WasmKernels = {
    fns,
    backend,
    gemm: threads
      ? (call) => threads.run(call)
      : (call) => gemm(...GEMM_ARGUMENTS.map((name) => call[name])),
    ...(threads ? { threads } : {}),
    scratch(floats) {
      if (floats > scratchFloats) {
        if (scratchAt) heap._free(scratchAt);
        scratchFloats = Math.max(floats, Math.ceil(scratchFloats * 1.5));
        scratchAt = heap._malloc((scratchFloats + SCRATCH_GUARD) * 4) >>> 0;
      }
      guardAt = scratchAt + floats * 4;
      new Uint32Array(heap.HEAPU8.buffer, guardAt, SCRATCH_GUARD).fill(GUARD_WORD);
      return scratchAt;
    },
    scratchGuardIntact: () =>
      !guardAt ||
      new Uint32Array(heap.HEAPU8.buffer, guardAt, SCRATCH_GUARD).every((w) => w === GUARD_WORD),
    address: (t) => backend.dataIdMap.get(t.dataId)!.memoryOffset,
    view: (t) => backend.typedArrayFromHeap(t) as Float32Array,
    floats: (at, n) => new Float32Array(heap.HEAPU8.buffer, at, n),
    ...allocator,
  };
  instances.set(backend, kernels);
  return kernels;
}
