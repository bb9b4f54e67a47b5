/**
 * Decoded image integers to float32 `[0, 1]` on the GPU (`data/pixel_batch.ts`
 * is the caller): the batch is uploaded as it was decoded, four 8-bit or two
 * 16-bit values to an int32 word, and one thread per value looks its float
 * up in a table of `fround(v / 255)` (or `/ 65535`) — the host's own table,
 * so the device gives the host's values bit for bit (WGSL's `/` is allowed
 * 2.5 ULP of error). A quarter (8-bit) or half (16-bit) of the float32 bytes
 * cross to the device and no JavaScript touches each value.
 *
 * Kernel: `NovalabUnitPixels` (inputs `packed` int32 `[words]`, `table`
 * float32 `[2^depth]`; attrs `depth` 8 | 16, `size` values, `replicate` 1 | 3:
 * grey images stored once per pixel and delivered as RGB) → float32 `[size]`.
 * No gradient: images are data.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, NamedAttrMap, Tensor, Tensor4D, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { webgpuKernelConfigs } from "./custom_grad.ts";
import { FlatProgram } from "./program_base.ts";

/** Kernel name. */
export const UNIT_PIXELS = "NovalabUnitPixels";

/** One thread per value: unpack its integer, look up its float. */
export class NovalabUnitPixelsProgram extends FlatProgram {
  /** Packed integers and the lookup table. */
  variableNames = ["packed", "table"];
  /** Cache key (one shader per depth). */
  shaderKey: string;
  /** Values to write, and copies per stored value (3: grey delivered as RGB). */
  uniforms = "units : i32, replicate : i32,";
  readonly #depth: 8 | 16;

  /** Writes `size` values unpacked at `depth` bits. */
  constructor(size: number, depth: 8 | 16) {
    super(size);
    this.#depth = depth;
    this.shaderKey = `novalabUnitPixels${depth}`;
  }

  /** WGSL user code. */
  getUserCode(): string {
    const perWord = 32 / this.#depth;
    const mask = this.#depth === 8 ? "255u" : "65535u";
    return `
fn main(index : i32) {
  if (index < uniforms.units) {
    let stored = index / uniforms.replicate;
    let word = bitcast<u32>(packed[stored / ${perWord}]);
    let v = (word >> (u32(stored % ${perWord}) * ${this.#depth}u)) & ${mask};
    result[index] = table[v];
  }
}`;
  }
}

interface Args {
  inputs: { packed?: TensorInfo; table?: TensorInfo };
  backend: unknown;
  attrs?: NamedAttrMap;
}

function run(args: Args): TensorInfo {
  const { packed, table } = args.inputs;
  const depth = Number(args.attrs?.["depth"]);
  const size = Number(args.attrs?.["size"]);
  const replicate = Number(args.attrs?.["replicate"] ?? 1);
  if (replicate !== 1 && replicate !== 3) {
    throw new Error(`kernels/unit_pixels.ts: replicate must be 1 or 3, got ${replicate}`);
  }
  if (depth !== 8 && depth !== 16) {
    throw new Error(`kernels/unit_pixels.ts: depth must be 8 or 16, got ${depth}`);
  }
  if (!packed || packed.dtype !== "int32" || packed.shape.length !== 1) {
    throw new Error("kernels/unit_pixels.ts: packed must be an int32 vector");
  }
  if (!Number.isInteger(size) || size < 0 || size > packed.shape[0]! * (32 / depth) * replicate) {
    throw new Error(
      `kernels/unit_pixels.ts: size ${size} does not fit ${
        packed.shape[0]
      } words at ${depth} bits` +
        (replicate === 3 ? " (each value 3 times)" : ""),
    );
  }
  if (!table || table.dtype !== "float32" || table.shape[0] !== 2 ** depth) {
    throw new Error(`kernels/unit_pixels.ts: table must be float32 [${2 ** depth}]`);
  }
  const backend = args.backend as WebGPUBackend;
  return backend.runWebGPUProgram(
    new NovalabUnitPixelsProgram(size, depth),
    [packed, table],
    "float32",
    [{ type: "int32", data: [size] }, { type: "int32", data: [replicate] }],
  );
}

/** Kernel config (webgpu). */
export function unitPixelsKernelConfigs(): KernelConfig[] {
  return webgpuKernelConfigs({ [UNIT_PIXELS]: run });
}

/** The device copy of each depth's table, per backend instance (a new backend uploads again). */
const deviceTables = new WeakMap<object, Map<8 | 16, Tensor>>();

function deviceTable(depth: 8 | 16, host: () => Float32Array): Tensor {
  const backend = tf.backend();
  let perDepth = deviceTables.get(backend);
  if (!perDepth) deviceTables.set(backend, perDepth = new Map());
  let table = perDepth.get(depth);
  if (!table || table.isDisposed) {
    table = tf.keep(tf.tensor1d(host(), "float32"));
    perDepth.set(depth, table);
  }
  return table;
}

/**
 * Float32 `[0, 1]` images `shape` from packed integers, converted on the
 * device (WebGPU with novalab's kernels installed).
 *
 * @param words The values, four 8-bit or two 16-bit to a word (little-endian), zero-padded.
 * @param options Bits per value, the output shape, and the host table of that depth.
 */
export function unitPixelsOnDevice(
  words: Int32Array,
  options: {
    depth: 8 | 16;
    shape: [number, number, number, number];
    /** Copies per stored value (3: grey values delivered as RGB; default 1). */
    replicate?: 1 | 3;
    table: () => Float32Array;
  },
): Tensor4D {
  const size = options.shape.reduce((a, b) => a * b, 1);
  const table = deviceTable(options.depth, options.table);
  return tf.tidy(() => {
    const packed = tf.tensor1d(words, "int32");
    const flat = tf.engine().runKernel(UNIT_PIXELS, { packed, table }, {
      depth: options.depth,
      size,
      replicate: options.replicate ?? 1,
    }) as Tensor;
    return flat.reshape(options.shape) as Tensor4D;
  });
}
