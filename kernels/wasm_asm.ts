/**
 * A small WebAssembly assembler: enough of the binary format (types, one
 * imported memory, functions with locals, exports) and of the instruction set
 * (i32/f32 arithmetic, loads and stores, structured control flow, 128-bit
 * SIMD and relaxed SIMD's fused multiply-add) to generate novalab's CPU
 * kernels (`kernels/wasm_gemm.ts`, …) from TypeScript at run time, without a
 * compiler toolchain or a binary blob in the repository. The generated
 * modules import tfjs-backend-wasm's own memory, so they read and write
 * tensors in place.
 *
 * @module
 */
import { name, OP, section, SIMD, sleb, TYPE_CODE, uleb, vec } from "./wasm_encoding.ts";

/** WebAssembly value types used here. */
export type ValType = "i32" | "f32" | "v128";

/** A local variable (parameters first, then declared locals), by index. */
export type Local = number & { readonly __local: unique symbol };

/** Emits one function body: locals, instructions and structured control flow. */
export class FunctionBuilder {
  readonly #code: number[] = [];
  readonly #locals: ValType[] = [];
  #depth = 0;

  /**
   * A function taking `params` (locals 0…n−1) and returning `results`.
   *
   * @param params Parameter types.
   * @param results Result types (none by default).
   */
  constructor(readonly params: ValType[], readonly results: ValType[] = []) {}

  /** Parameter `i` as a local. */
  param(i: number): Local {
    if (i < 0 || i >= this.params.length) {
      throw new RangeError(`kernels/wasm_asm.ts: no parameter ${i} (${this.params.length} params)`);
    }
    return i as Local;
  }

  /** Declares a new local of type `t`. */
  local(t: ValType): Local {
    this.#locals.push(t);
    return (this.params.length + this.#locals.length - 1) as Local;
  }

  /** Appends a plain instruction by mnemonic. */
  op(mnemonic: keyof typeof OP): this {
    this.#code.push(OP[mnemonic]);
    return this;
  }

  /** Appends a SIMD instruction by mnemonic. */
  simd(mnemonic: keyof typeof SIMD): this {
    this.#code.push(0xfd, ...uleb(SIMD[mnemonic]));
    return this;
  }

  /** `local.get`. */
  get(l: Local): this {
    this.#code.push(0x20, ...uleb(l));
    return this;
  }

  /** `local.set`. */
  set(l: Local): this {
    this.#code.push(0x21, ...uleb(l));
    return this;
  }

  /** `local.tee`. */
  tee(l: Local): this {
    this.#code.push(0x22, ...uleb(l));
    return this;
  }

  /** `i32.const`. */
  i32(n: number): this {
    this.#code.push(0x41, ...sleb(n | 0));
    return this;
  }

  /** `f32.const`. */
  f32(x: number): this {
    const b = new Uint8Array(new Float32Array([x]).buffer);
    this.#code.push(0x43, ...b);
    return this;
  }

  /** `v128.const` of four equal f32 lanes. */
  f32x4(x: number): this {
    const b = new Uint8Array(new Float32Array([x, x, x, x]).buffer);
    this.#code.push(0xfd, ...uleb(0x0c), ...b);
    return this;
  }

  /** `i32.load` (byte `offset` added to the address on the stack). */
  loadI32(offset = 0): this {
    this.#code.push(0x28, 2, ...uleb(offset));
    return this;
  }

  /** `f32.load`. */
  loadF32(offset = 0): this {
    this.#code.push(0x2a, 2, ...uleb(offset));
    return this;
  }

  /** `f32.store` (address, value on the stack). */
  storeF32(offset = 0): this {
    this.#code.push(0x38, 2, ...uleb(offset));
    return this;
  }

  /** `v128.load` (alignment hint 1: addresses need not be 16-byte aligned). */
  loadV(offset = 0): this {
    this.#code.push(0xfd, ...uleb(0x00), 0, ...uleb(offset));
    return this;
  }

  /** `v128.load32_splat`: one f32 from memory in all four lanes. */
  loadSplat(offset = 0): this {
    this.#code.push(0xfd, ...uleb(0x09), 0, ...uleb(offset));
    return this;
  }

  /** `v128.store`. */
  storeV(offset = 0): this {
    this.#code.push(0xfd, ...uleb(0x0b), 0, ...uleb(offset));
    return this;
  }

  /** `f32x4.extract_lane`. */
  lane(i: number): this {
    this.#code.push(0xfd, ...uleb(0x1f), i);
    return this;
  }

  /** `call` of function index `f`. */
  call(f: number): this {
    this.#code.push(0x10, ...uleb(f));
    return this;
  }

  /** `if … end` on the i32 on the stack; `otherwise` adds an `else` branch. */
  if(then: () => void, otherwise?: () => void): this {
    this.#code.push(0x04, 0x40);
    this.#depth++;
    then();
    if (otherwise) {
      this.#code.push(0x05);
      otherwise();
    }
    this.#depth--;
    this.#code.push(0x0b);
    return this;
  }

  /**
   * `for (i = from; i < to; i += step) body()` with `from`, `to` emitted by the
   * callbacks (`to` is re-evaluated every iteration) and `step` a constant.
   * The body runs at least zero times.
   */
  for(i: Local, from: () => void, to: () => void, step: number, body: () => void): this {
    from();
    this.set(i);
    this.#code.push(0x02, 0x40); // block
    this.#code.push(0x03, 0x40); // loop
    this.#depth += 2;
    this.get(i);
    to();
    this.op("i32.ge_s");
    this.#code.push(0x0d, 1); // br_if to the block's end
    body();
    this.get(i).i32(step).op("i32.add").set(i);
    this.#code.push(0x0c, 0); // br to the loop's start
    this.#depth -= 2;
    this.#code.push(0x0b, 0x0b);
    return this;
  }

  /** The encoded body (locals and code) for the code section. */
  encode(): number[] {
    if (this.#depth !== 0) throw new Error("kernels/wasm_asm.ts: unbalanced control flow");
    const groups: number[][] = [];
    for (const t of this.#locals) groups.push([1, TYPE_CODE[t]]);
    const body = [...vec(groups), ...this.#code, 0x0b];
    return [...uleb(body.length), ...body];
  }
}

/** Pages (64 KiB) a shared memory import declares as its maximum: 4 GiB. */
const MAX_SHARED_PAGES = 65536;

/** A module of functions over one imported memory (`env.memory`). */
export class ModuleBuilder {
  readonly #functions: { f: FunctionBuilder; export?: string }[] = [];

  /** Adds `f` (exported as `exportName` when given) and returns its function index. */
  add(f: FunctionBuilder, exportName?: string): number {
    this.#functions.push({ f, ...(exportName ? { export: exportName } : {}) });
    return this.#functions.length - 1;
  }

  /** Index the next {@linkcode ModuleBuilder.add} will return (for forward calls). */
  get nextIndex(): number {
    return this.#functions.length;
  }

  /**
   * The module's bytes. `sharedMemory` declares the imported memory shared
   * (maximum 4 GiB, the limit of tfjs-backend-wasm's threaded build), so the
   * module can be instantiated against a shared `WebAssembly.Memory` on
   * several threads; otherwise it imports an ordinary memory.
   */
  encode(options: { sharedMemory?: boolean } = {}): Uint8Array {
    const fns = this.#functions;
    const types = fns.map(({ f }) => [
      0x60,
      ...vec(f.params.map((t) => [TYPE_CODE[t]])),
      ...vec(f.results.map((t) => [TYPE_CODE[t]])),
    ]);
    const limits = options.sharedMemory ? [0x03, 0x01, ...uleb(MAX_SHARED_PAGES)] : [0x00, 0x01];
    const memoryImport = [...name("env"), ...name("memory"), 0x02, ...limits];
    const exports = fns.flatMap(({ export: e }, i) => e ? [[...name(e), 0x00, ...uleb(i)]] : []);
    return new Uint8Array([
      0x00,
      0x61,
      0x73,
      0x6d,
      0x01,
      0x00,
      0x00,
      0x00,
      ...section(1, vec(types)),
      ...section(2, vec([memoryImport])),
      ...section(3, vec(fns.map((_, i) => uleb(i)))),
      ...section(7, vec(exports)),
      ...section(10, vec(fns.map(({ f }) => f.encode()))),
    ]);
  }
}
