/**
 * Data-loader benchmark (`deno task bench data`): decoded + augmented images
 * per second for 224 px JPEGs read through the public `manifest` source and
 * the `views` module, in three modes —
 *
 * - `single`: one decode at a time, batches one after another;
 * - `concurrent`: `concurrency` decodes in flight per batch (sharp's worker threads);
 * - `prefetch`: concurrent decoding of batch `k+1` overlapped with the
 *   augmentation of batch `k`, as `core/trainer.ts` prefetches one batch ahead.
 * - `cached`: `prefetch` with the decoded-image cache (`data.cache`), timed
 *   after one untimed epoch has filled it — every later epoch and run.
 *
 * The JPEGs are generated first (textured colour images, `sourceSide`² —
 * 256 by default, 2048 for radiograph-sized files — ~quality 90, decoded with
 * `fit: cover` to 224), so the numbers do not depend on a dataset.
 * Augmentation: 2 views of random resized crop + flip + colour jitter +
 * greyscale + blur + solarise on the active tfjs backend.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { createManifestSource } from "../data/manifest.ts";
import { loadSharp } from "../data/sharp.ts";
import { ViewAugment } from "../data/views.ts";
import { type BackendChoice, initBackend } from "../core/backend.ts";
import type { Batch, BatchOptions, DataSource } from "../core/types.ts";

/** Options of {@link benchData}. */
export interface DataBenchOptions {
  /** Images generated and read per mode (default 256). */
  images?: number;
  /** Batch size (default 32). */
  batch?: number;
  /** Output side (default 224). */
  size?: number;
  /** Decodes in flight in the concurrent modes (default: the batch size, so a whole batch is queued). */
  concurrency?: number;
  /** Also run the augmentation (default true). */
  augment?: boolean;
  /** Folder under which the JPEGs are written (and removed), default `.cache`. */
  workDir?: string;
  /** Side of the generated JPEGs (default 256). */
  sourceSide?: number;
}

/** One measured mode. */
export interface DataBenchRow {
  /** `single`, `concurrent` or `prefetch`. */
  mode: string;
  /** Decodes in flight per batch. */
  concurrency: number;
  /** Decoded images per second (decode only). */
  decoded_per_s: number;
  /** Decoded + augmented images per second (`NaN` without augmentation). */
  augmented_per_s: number;
}

/** What {@link benchData} measured. */
export interface DataBenchResult {
  /** The tfjs backend that ran the augmentation. */
  backend: string;
  /** Settings used. */
  options: Required<DataBenchOptions>;
  /** One row per mode. */
  rows: DataBenchRow[];
}

/** Writes `n` textured colour JPEGs (`side`²) and a manifest; returns the manifest path. */
async function writeJpegs(dir: string, n: number, side: number): Promise<string> {
  const sharp = await loadSharp();
  const lines = ["image_path,caption"];
  let s = 12345;
  for (let i = 0; i < n; i++) {
    const px = new Uint8Array(side * side * 3);
    for (let p = 0; p < px.length; p++) {
      s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
      const y = Math.floor(p / (side * 3));
      px[p] = (((p % (side * 3)) / 3 + y + i * 7) % 200) + (s >>> 27);
    }
    const jpg = await sharp(px, { raw: { width: side, height: side, channels: 3 } })
      .blur(1.2).jpeg({ quality: 90 }).toBuffer();
    await Deno.writeFile(`${dir}/${i}.jpg`, jpg);
    lines.push(`${i}.jpg,image ${i}`);
  }
  await Deno.writeTextFile(`${dir}/manifest.csv`, lines.join("\n") + "\n");
  return `${dir}/manifest.csv`;
}

function augmenter(size: number): ViewAugment {
  return new ViewAugment({
    count: 2,
    size,
    scale: [0.3, 1],
    ratio: [3 / 4, 4 / 3],
    flip: 0.5,
    jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 },
    grayscale: 0.2,
    blur: { p: 0.5, sigma: [0.1, 2] },
    solarize: { p: 0.2, threshold: 0.5 },
  }, "bench");
}

/** Runs every batch of an epoch; returns seconds. `prefetch` loads batch k+1 during k's work. */
async function epoch(
  source: DataSource,
  at: { options: BatchOptions; work: (b: Batch, k: number) => Promise<void>; prefetch: boolean },
): Promise<number> {
  const n = source.batchesPerEpoch("train", at.options);
  const t0 = performance.now();
  const load = (k: number) => source.batch("train", k, at.options);
  let pending = load(0);
  for (let k = 0; k < n; k++) {
    const batch = await pending;
    if (at.prefetch && k + 1 < n) pending = load(k + 1);
    await at.work(batch, k);
    batch.image.dispose();
    if (!at.prefetch && k + 1 < n) pending = load(k + 1);
  }
  return (performance.now() - t0) / 1000;
}

async function augmentBatch(views: ViewAugment, batch: Batch, step: number): Promise<void> {
  const out = views.forward([batch.image], { training: true, step, seed: step }) as tf.Tensor;
  await out.data();
  out.dispose();
}

/** Modes: name, concurrency (`undefined` = the option's), prefetch, decoded-image cache. */
const MODES = [
  ["single", 1, false, false],
  ["concurrent", undefined, false, false],
  ["prefetch", undefined, true, false],
  ["cached", undefined, true, true],
] as const;

/** One mode: an epoch decoding only, then an epoch decoding and augmenting. */
async function measure(
  path: string,
  at: {
    o: Required<DataBenchOptions>;
    mode: string;
    concurrency: number;
    prefetch: boolean;
    cache: string | false;
  },
): Promise<DataBenchRow> {
  const { o, concurrency, prefetch } = at;
  const source = await createManifestSource({
    path,
    image: "image_path",
    text: "caption",
    filter: [],
    size: o.size,
    channels: 3,
    fit: "cover",
    concurrency,
    bad_input: "fail",
    val: 0,
    test: 0,
    cache: at.cache,
  }, { seed: 0 });
  const options = { batchSize: o.batch, seed: 0, shuffle: true, dropLast: true };
  const images = source.batchesPerEpoch("train", options) * o.batch;
  const views = augmenter(o.size);
  if (at.cache) await epoch(source, { options, work: () => Promise.resolve(), prefetch });
  const decodeS = await epoch(source, { options, work: () => Promise.resolve(), prefetch });
  const augS = o.augment
    ? await epoch(source, { options, work: (b, k) => augmentBatch(views, b, k), prefetch })
    : NaN;
  source.dispose();
  return {
    mode: at.mode,
    concurrency,
    decoded_per_s: images / decodeS,
    augmented_per_s: images / augS,
  };
}

/**
 * Measures decode and decode + augmentation throughput (see the module doc).
 *
 * @param options Images, batch size, output size, concurrency, augmentation.
 * @returns Images/s per mode on the active tfjs backend.
 */
export async function benchData(options: DataBenchOptions = {}): Promise<DataBenchResult> {
  const o: Required<DataBenchOptions> = {
    images: options.images ?? 256,
    batch: options.batch ?? 32,
    size: options.size ?? 224,
    concurrency: options.concurrency ?? options.batch ?? 32,
    augment: options.augment ?? true,
    workDir: options.workDir ?? ".cache",
    sourceSide: options.sourceSide ?? 256,
  };
  await Deno.mkdir(o.workDir, { recursive: true });
  const dir = await Deno.makeTempDir({ dir: o.workDir, prefix: "bench_data_" });
  try {
    const path = await writeJpegs(dir, o.images, o.sourceSide);
    const rows: DataBenchRow[] = [];
    for (const [mode, concurrency, prefetch, cached] of MODES) {
      const c = concurrency ?? o.concurrency;
      const cache = cached ? `${dir}/decoded` : false;
      rows.push(await measure(path, { o, mode, concurrency: c, prefetch, cache }));
    }
    return { backend: tf.getBackend(), options: o, rows };
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
}

/** A printable table of a {@link DataBenchResult}. */
export function formatDataBench(result: DataBenchResult): string {
  const { options: o } = result;
  const head = `data: ${o.images} JPEGs ${o.sourceSide}² → ${o.size}², batch ${o.batch}, ` +
    `augmentation on ${result.backend} (2 views: crop, flip, jitter, grey, blur, solarise)`;
  const lines = result.rows.map((r) =>
    `  ${r.mode.padEnd(10)} concurrency ${String(r.concurrency).padStart(2)}: ` +
    `${r.decoded_per_s.toFixed(0).padStart(6)} decoded/s, ` +
    `${Number.isNaN(r.augmented_per_s) ? "     -" : r.augmented_per_s.toFixed(0).padStart(6)} ` +
    `decoded+augmented/s`
  );
  return [head, ...lines].join("\n");
}

if (import.meta.main) {
  await initBackend((Deno.args[1] ?? "auto") as BackendChoice);
  const result = await benchData({ images: Number(Deno.args[0] ?? 256) });
  console.log(formatDataBench(result));
}
