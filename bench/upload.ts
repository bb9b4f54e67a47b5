/**
 * Images to the device (`deno task bench upload`): the host's milliseconds
 * per batch to turn decoded images (8- or 16-bit, as a source's decoder or
 * decoded-image cache hands them over) into the float32 `[B, H, W, C]` tensor
 * a training step reads, on WebGPU, two ways, alternated:
 *
 * - `floats`: converted to float32 on the host and uploaded as floats (what
 *   every source did before `data/pixel_batch.ts`);
 * - `packed`: the integers uploaded four (two) to a word and converted on the
 *   device (`kernels/unit_pixels.ts`, what the sources do now).
 *
 * Host time only — filling the batch, then up to the upload's copy into tfjs's staging buffer and the
 * dispatch's recording: the device's own work runs after the timer stops (on
 * the fallback adapter the submit runs the shader on the CPU). Both ways'
 * tensors are compared bit for bit.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { PixelBatch } from "../data/pixel_batch.ts";
import type { RawPixels } from "../data/decode.ts";
import { submitPendingWork } from "../core/webgpu_device.ts";

/** Options of {@link benchUpload}. */
export interface UploadBenchOptions {
  /** Images per batch (default 64). */
  batch?: number;
  /** Image side (default 224). */
  size?: number;
  /** Bits per decoded value (default 8). */
  depth?: 8 | 16;
  /** Greyscale images stored with one channel, delivered as RGB (default false). */
  grey?: boolean;
  /** Batches per way (default 10; the median is reported). */
  reps?: number;
}

/** What {@link benchUpload} measured. */
export interface UploadBenchResult {
  /** Settings used. */
  options: Required<UploadBenchOptions>;
  /** Median host ms per batch, converted on the host and uploaded as floats. */
  floatsMs: number;
  /** Median host ms per batch, packed integers converted on the device. */
  packedMs: number;
  /** Bytes uploaded per batch: floats, packed. */
  bytes: [number, number];
  /** Whether both ways gave the same values bit for bit. */
  identical: boolean;
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)]!;
}

/** `count` images of `values` decoded values each, deterministic. */
function images(count: number, values: number, depth: 8 | 16): RawPixels[] {
  let s = 1;
  return Array.from({ length: count }, () => {
    const img = depth === 8 ? new Uint8Array(values) : new Uint16Array(values);
    for (let i = 0; i < values; i++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      img[i] = s >>> (depth === 8 ? 24 : 16);
    }
    return img;
  });
}

/** The batch as a device tensor, one way. */
function toDevice(batch: PixelBatch, way: "floats" | "packed"): tf.Tensor {
  if (way === "packed") return batch.toTensor();
  const image = tf.tensor4d(batch.toFloat32(), batch.shape, "float32");
  (tf.backend() as unknown as { uploadToGPU(id: object): void }).uploadToGPU(image.dataId);
  return image;
}

/**
 * Measures both ways (see the module doc) on the active backend, which must
 * be WebGPU with novalab's kernels.
 */
export async function benchUpload(options: UploadBenchOptions = {}): Promise<UploadBenchResult> {
  if (tf.getBackend() !== "webgpu") {
    throw new Error(`bench upload needs the webgpu backend (active: ${tf.getBackend()})`);
  }
  const o: Required<UploadBenchOptions> = {
    batch: options.batch ?? 64,
    size: options.size ?? 224,
    depth: options.depth ?? 8,
    grey: options.grey ?? false,
    reps: options.reps ?? 10,
  };
  const stored = o.size * o.size * (o.grey ? 1 : 3);
  const source = images(o.batch, stored, o.depth);
  const times: Record<"floats" | "packed", number[]> = { floats: [], packed: [] };
  let identical = true;
  for (let rep = 0; rep <= o.reps; rep++) {
    for (const way of ["floats", "packed"] as const) {
      const t0 = performance.now();
      const batch = new PixelBatch(o.batch, [o.size, o.size, 3]);
      source.forEach((img, j) => batch.put(j * o.size * o.size * 3, img, o.grey ? 3 : 1));
      const image = toDevice(batch, way);
      const ms = performance.now() - t0;
      submitPendingWork();
      if (rep === 0) {
        const got = (await image.data()) as Float32Array;
        const want = batch.toFloat32();
        identical &&= got.every((v, i) => Object.is(v, want[i]));
      } else {
        times[way].push(ms);
        await image.slice([0, 0, 0, 0], [1, 1, 1, 1]).data();
      }
      image.dispose();
    }
  }
  const values = o.batch * o.size * o.size * 3;
  // Grey images are stored once per pixel (`PixelBatch.replicate`): a third of the values cross.
  const packedBytes = Math.ceil(((values / (o.grey ? 3 : 1)) * o.depth) / 32) * 4;
  return {
    options: o,
    floatsMs: median(times.floats),
    packedMs: median(times.packed),
    bytes: [values * 4, packedBytes],
    identical,
  };
}

/** A printable summary of a {@link UploadBenchResult}. */
export function formatUploadBench(r: UploadBenchResult): string {
  const o = r.options;
  const mb = (b: number) => `${(b / 2 ** 20).toFixed(1)} MiB`;
  return [
    `upload: batch ${o.batch} × ${o.size}² × 3, ${o.depth}-bit${o.grey ? " grey as RGB" : ""}, ` +
    `host ms per batch (median of ${o.reps}), ${tf.getBackend()}`,
    `  floats (converted on the host): ${r.floatsMs.toFixed(1)} ms, ${mb(r.bytes[0])} uploaded`,
    `  packed (converted on the device): ${r.packedMs.toFixed(1)} ms, ${mb(r.bytes[1])} uploaded`,
    `  ${(r.floatsMs / r.packedMs).toFixed(2)}× less host time; values ` +
    (r.identical ? "identical bit for bit" : "DIFFER"),
  ].join("\n");
}
