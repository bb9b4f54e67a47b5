/**
 * {@link PixelBatch}: a batch of decoded images kept as the integers they
 * were decoded to (8-bit, or 16-bit once a 16-bit image arrives) until it
 * becomes the `[B, H, W, C]` float32 tensor a {@link Batch} carries.
 *
 * The conversion to `[0, 1]` is `v / 255` (8-bit) or `v / 65535` (16-bit),
 * rounded to float32 — the same values whichever way it runs:
 *
 * - on WebGPU with novalab's kernels the integers are uploaded packed four
 *   (or two) to a 32-bit word and converted on the device by a table lookup
 *   (`kernels/unit_pixels.ts`): a quarter of the bytes to upload and no
 *   per-value JavaScript loop on the host, which also builds the next step
 *   (at 224 px a batch of 64 is 9.6 M values: ≈ 17 ms of conversion on a
 *   core and 38 MB of float32 to copy, against a ViT-Ti step PyTorch runs in
 *   ≈ 33 ms on an H100);
 * - elsewhere on the host, through the same table.
 *
 * An 8-bit batch that receives a 16-bit image is widened (`v · 257`: exactly
 * the same fraction, so the 8-bit images keep their values).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { Tensor4D } from "@tensorflow/tfjs";
import type { RawPixels } from "./decode.ts";
import { novalabKernelsActive } from "../kernels/active.ts";
import { unitPixelsOnDevice } from "../kernels/unit_pixels.ts";
import { envIs } from "../core/env.ts";

/** `NOVALAB_DEVICE_PIXELS=0` converts on the host on WebGPU too (A/B measurements). */
export const DEVICE_PIXELS_ENV = "NOVALAB_DEVICE_PIXELS";

const tables = new Map<8 | 16, Float32Array>();

/** `table[v] = fround(v / (2^depth − 1))`: every integer's value in `[0, 1]`. */
export function unitTable(depth: 8 | 16): Float32Array {
  let table = tables.get(depth);
  if (!table) {
    const max = depth === 8 ? 255 : 65535;
    table = new Float32Array(max + 1);
    for (let v = 0; v <= max; v++) table[v] = v / max;
    tables.set(depth, table);
  }
  return table;
}

/** Rounds `n` up to a multiple of `m`. */
function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/** A batch of `count` images of `H·W·C` integer values, filled slot by slot (see the module doc). */
export class PixelBatch {
  /** `[count, H, W, C]`. */
  readonly shape: [number, number, number, number];
  #values: Uint8Array | Uint16Array;
  #empty = true;
  /**
   * Every image so far was grey delivered as RGB (`replicate: 3`): one value
   * per pixel is stored, replicated when converted (on the device too).
   */
  #grey = false;

  /**
   * An all-zero 8-bit batch.
   *
   * @param count Images.
   * @param imageShape `[H, W, C]` of each image.
   */
  constructor(count: number, imageShape: readonly [number, number, number]) {
    this.shape = [count, ...imageShape];
    // Whole 32-bit words: the device path views the bytes as int32.
    this.#values = new Uint8Array(roundUp(this.size, 4));
  }

  /** Values in the batch (`count · H · W · C`). */
  get size(): number {
    return this.shape.reduce((a, b) => a * b, 1);
  }

  /** Bits per value: 8 until a 16-bit image was put. */
  get depth(): 8 | 16 {
    return this.#values instanceof Uint16Array ? 16 : 8;
  }

  /** Copies per stored value: 3 while every image is grey delivered as RGB, else 1. */
  get replicate(): 1 | 3 {
    return this.#grey ? 3 : 1;
  }

  /**
   * Writes one image's values from `offset` (in values, not bytes);
   * `replicate: 3` writes each value three times (a greyscale image
   * stored with one channel, delivered as R = G = B).
   *
   * @param offset Index of the image's first value in the batch.
   * @param data The image's pixels (8- or 16-bit).
   * @param replicate Copies per value (default 1).
   */
  put(offset: number, data: RawPixels, replicate: 1 | 3 = 1): void {
    if (offset < 0 || offset + data.length * replicate > this.size) {
      throw new RangeError(
        `PixelBatch.put: ${data.length * replicate} values at ${offset} overrun a batch of ` +
          `${this.size}`,
      );
    }
    if (this.#empty && replicate === 3 && this.shape[3] === 3 && offset % 3 === 0) {
      this.#grey = true; // the first image decides; a colour image later expands the batch
      this.#values = new Uint8Array(roundUp(this.size / 3, 4));
    }
    if (this.#grey && (replicate !== 3 || offset % 3 !== 0)) this.#expand();
    if (data instanceof Uint16Array && this.#values instanceof Uint8Array) this.#widen();
    this.#empty = false;
    const out = this.#values;
    // An 8-bit image in a 16-bit batch: v · 257 is the same fraction of 65535 as v is of 255.
    const gain = data instanceof Uint8Array && out instanceof Uint16Array ? 257 : 1;
    const stored = this.#grey ? 1 : replicate;
    const at = this.#grey ? offset / 3 : offset;
    if (stored === 1 && gain === 1) {
      out.set(data, at);
      return;
    }
    for (let i = 0, o = at; i < data.length; i++, o += stored) {
      const v = data[i]! * gain;
      out[o] = v;
      if (stored === 3) out[o + 1] = out[o + 2] = v;
    }
  }

  /**
   * Copies the values `[start, end)` to `target` (a substitute for an image
   * that did not decode; whole images), as `TypedArray.copyWithin` does.
   */
  copyWithin(target: number, start: number, end: number): void {
    const r = this.replicate;
    if (r === 3 && (target % 3 || start % 3 || end % 3)) this.#expand();
    const k = this.replicate;
    this.#values.copyWithin(target / k, start / k, end / k);
  }

  /** The batch as float32 values in `[0, 1]`, converted on the host. */
  toFloat32(): Float32Array {
    const table = unitTable(this.depth);
    const out = new Float32Array(this.size);
    const values = this.#values;
    if (this.#grey) {
      for (let i = 0, o = 0; o < out.length; i++, o += 3) {
        out[o] = out[o + 1] = out[o + 2] = table[values[i]!]!;
      }
      return out;
    }
    for (let i = 0; i < out.length; i++) out[i] = table[values[i]!]!;
    return out;
  }

  /**
   * The batch as a float32 `[count, H, W, C]` tensor in `[0, 1]` on the active
   * backend: converted on the device on WebGPU with novalab's kernels (unless
   * `host`, or `NOVALAB_DEVICE_PIXELS=0`), on the host elsewhere (the same
   * values either way).
   */
  toTensor(options: { host?: boolean } = {}): Tensor4D {
    const onDevice = tf.getBackend() === "webgpu" && novalabKernelsActive() && this.size > 0 &&
      !options.host && !envIs(DEVICE_PIXELS_ENV, "0");
    if (onDevice) {
      const values = this.#values;
      const words = new Int32Array(values.buffer, values.byteOffset, values.byteLength / 4);
      const depth = this.depth;
      return unitPixelsOnDevice(words, {
        depth,
        shape: this.shape,
        replicate: this.replicate,
        table: () => unitTable(depth),
      });
    }
    return tf.tensor4d(this.toFloat32(), this.shape, "float32");
  }

  /** Leaves the grey form: every stored value written three times. */
  #expand(): void {
    const grey = this.#values;
    const full = grey instanceof Uint16Array
      ? new Uint16Array(roundUp(this.size, 2))
      : new Uint8Array(roundUp(this.size, 4));
    for (let i = 0, o = 0; o < this.size; i++, o += 3) {
      full[o] = full[o + 1] = full[o + 2] = grey[i]!;
    }
    this.#values = full;
    this.#grey = false;
  }

  #widen(): void {
    const narrow = this.#values;
    const stored = this.#grey ? this.size / 3 : this.size;
    const wide = new Uint16Array(roundUp(stored, 2));
    if (!this.#empty) { for (let i = 0; i < stored; i++) wide[i] = narrow[i]! * 257; }
    this.#values = wide;
  }
}
