/**
 * What a trained model needs to know about its training data, kept in the run
 * directory (`data.json`) so that the run can be used without the data: the
 * source's name, class and label names, and the image shape the model reads.
 * {@link FactsSource} stands in for the data source when a run's graph is
 * rebuilt for inference (`deno task predict`, `embed`, `search`): its batches
 * have the training batches' shapes and nothing else.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { writeJsonAtomic } from "./atomic.ts";
import type { Batch, BatchOptions, DataSource, SplitInfo } from "./types.ts";

/** The file name of the facts in a run directory. */
export const DATA_FACTS_FILE = "data.json";

/** The training data as a trained model sees it (`data.json`). */
export interface DataFacts {
  /** The data source's name. */
  source: string;
  /** Class names indexed by label (`[]` when the source has none). */
  classes: string[];
  /** Multi-label target names (e.g. CheXpert's findings; `[]` when none). */
  labels: string[];
  /** `[H, W, C]` of the images the model reads. */
  image_shape: [number, number, number];
}

/** The facts of a data source. */
export function dataFacts(source: DataSource): DataFacts {
  const labels = (source as { labelNames?: string[] }).labelNames ?? [];
  return {
    source: source.name,
    classes: [...source.classNames],
    labels: [...labels],
    image_shape: [...source.imageShape],
  };
}

/** Writes `<root>/data.json` (atomically). */
export async function writeDataFacts(root: string, source: DataSource): Promise<void> {
  await writeJsonAtomic(`${root}/${DATA_FACTS_FILE}`, dataFacts(source));
}

const names = (v: unknown): v is string[] =>
  Array.isArray(v) && v.every((s) => typeof s === "string");

/**
 * Reads `<root>/data.json`, or `undefined` when the run has none (runs made
 * before novalab wrote it).
 *
 * @throws When the file exists but is not the facts of a data source.
 */
export async function readDataFacts(root: string): Promise<DataFacts | undefined> {
  const path = `${root}/${DATA_FACTS_FILE}`;
  let value: Partial<DataFacts>;
  try {
    value = JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
  const shape = value?.image_shape;
  const shapeOk = Array.isArray(shape) && shape.length === 3 &&
    shape.every((n) => Number.isInteger(n) && n > 0);
  if (
    typeof value?.source !== "string" || !names(value.classes) || !names(value.labels) || !shapeOk
  ) {
    throw new Error(
      `${path}: expected { source, classes: [names], labels: [names], image_shape: [H, W, C] }, ` +
        `got ${JSON.stringify(value).slice(0, 200)}`,
    );
  }
  return value as DataFacts;
}

/**
 * A data source that knows only the facts: no splits; any batch asked for
 * (what compiling a graph does) is black images of the training shape with
 * the class names as captions and label 0 — enough to build the graph whose
 * weights a checkpoint then replaces.
 */
export class FactsSource implements DataSource {
  /** The training source's name. */
  readonly name: string;
  /** The training source's class names. */
  readonly classNames: string[];
  /** The training source's multi-label target names. */
  readonly labelNames: string[];
  /** The images' `[H, W, C]`. */
  readonly imageShape: [number, number, number];
  /** No splits: there is no data. */
  readonly splits: Record<string, SplitInfo> = {};

  /** Creates the source from a run's facts. */
  constructor(facts: DataFacts) {
    this.name = facts.source;
    this.classNames = [...facts.classes];
    this.labelNames = [...facts.labels];
    this.imageShape = [...facts.image_shape];
  }

  /** `batchSize` black images, the class names (or `"a photo."`) as captions, label 0. */
  batch(_split: string, _batchIndex: number, options: BatchOptions): Promise<Batch> {
    const n = options.batchSize;
    const words = this.classNames.length > 0 ? this.classNames : ["a photo."];
    return Promise.resolve({
      image: tf.zeros([n, ...this.imageShape]) as tf.Tensor4D,
      caption: Array.from({ length: n }, (_, i) => words[i % words.length]!),
      label: new Int32Array(n),
      index: Int32Array.from({ length: n }, (_, i) => i),
    });
  }

  /** No data: no batches. */
  batchesPerEpoch(): number {
    return 0;
  }

  /** Nothing to release. */
  dispose(): void {}
}
