import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import type { InferenceModel } from "../core/components.ts";
import { Rng, shuffle } from "../core/rng.ts";
import type { Batch, BatchOptions, DataSource, NodeValue, SplitInfo } from "../core/types.ts";
import { evaluatorEntries } from "./mod.ts";
import { classEmbeddings, type ZeroShotParams } from "./zero_shot.ts";

await tf.setBackend("cpu");

const CLASSES = ["zero", "one", "two", "three", "four", "five"];
const C = CLASSES.length;
/** The image node's projection: embedding[j] = pixel[PERM[j]] (a fixed permutation). */
const PERM = [3, 0, 5, 1, 4, 2];

/** An in-memory labelled dataset of `[1, C, 1]` images, read in order or shuffled per epoch. */
class MemorySource implements DataSource {
  readonly name = "memory";
  readonly classNames: string[] = CLASSES;
  readonly imageShape: [number, number, number] = [1, C, 1];
  readonly splits: Record<string, SplitInfo>;
  readonly calls: BatchOptions[] = [];

  constructor(readonly data: Record<string, { pixels: number[][]; labels: number[] }>) {
    this.splits = Object.fromEntries(
      Object.entries(data).map(([k, v]) => [k, { size: v.labels.length }]),
    );
  }

  batchesPerEpoch(split: string, options: BatchOptions): number {
    const size = this.splits[split]!.size;
    return options.dropLast
      ? Math.floor(size / options.batchSize)
      : Math.ceil(size / options.batchSize);
  }

  batch(split: string, batchIndex: number, options: BatchOptions): Promise<Batch> {
    return Promise.resolve(this.batchNow(split, batchIndex, options));
  }

  batchNow(split: string, batchIndex: number, options: BatchOptions): Batch {
    this.calls.push(options);
    const { pixels, labels } = this.data[split]!;
    const per = this.batchesPerEpoch(split, options);
    const [epoch, k] = [Math.floor(batchIndex / per), batchIndex % per];
    const order = Int32Array.from(labels, (_, i) => i);
    if (options.shuffle) shuffle(order, new Rng(options.seed + epoch));
    const index = order.slice(k * options.batchSize, (k + 1) * options.batchSize);
    return {
      image: tf.tensor4d(Array.from(index, (i) => pixels[i]!).flat(), [index.length, 1, C, 1]),
      caption: Array.from(index, (i) => `image ${i}`),
      label: Int32Array.from(index, (i) => labels[i]!),
      index,
    };
  }

  dispose(): void {}
}

/** Pixels whose image embedding (after the PERM projection) is `emb`. */
const pixelsFor = (emb: number[]): number[] => {
  const px = new Array<number>(C).fill(0);
  PERM.forEach((p, j) => px[p] = emb[j]!);
  return px;
};

/** One-hot text embedding of the class named in a prompt, tilted by `tilt` towards the next class. */
function promptEmbedding(prompt: string): number[] {
  const match = /^(a photo of the number|a drawing of) (\w+)\.$/.exec(prompt);
  const c = CLASSES.indexOf(match?.[2] ?? "");
  if (!match || c < 0) throw new Error(`unexpected prompt "${prompt}"`);
  const v = new Array<number>(C).fill(0);
  v[c] = 1;
  v[(c + 1) % C] = match[1] === "a drawing of" ? -0.5 : 0.5;
  return v;
}

/** Text node: a fixed lookup; image node: flatten and permute (optionally adding a view axis). */
function fakeModel(viewAxis = false): InferenceModel & { runs: string[] } {
  const runs: string[] = [];
  return {
    runs,
    run(target: string, batch: Record<string, NodeValue>): Promise<tf.Tensor> {
      runs.push(target);
      if (target === "text") {
        const prompts = batch.caption as string[];
        return Promise.resolve(tf.tensor2d(prompts.map(promptEmbedding), [prompts.length, C]));
      }
      assert.equal(target, "image");
      const image = batch.image as tf.Tensor4D;
      return Promise.resolve(tf.tidy(() => {
        const emb = tf.gather(tf.reshape(image, [image.shape[0], C]), PERM, 1);
        return viewAxis ? tf.expandDims(emb, 0) : emb;
      }));
    },
  };
}

// Image embeddings by construction (class scores before the text side's normalisation):
// 0, 1, 3, 5 rank their label first; 2 ranks its label second (top-5 only);
// 4's label (five) scores lowest of the six (misses top-5 too).
const TEST = {
  embeddings: [
    [0.9, 0.1, 0, 0, 0, 0],
    [0, 0.2, 0.8, 0, 0, 0],
    [0, 0, 0, 0.7, 0.3, 0],
    [0.05, 0, 0, 0, 0, 1],
    [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
    [0, 0.1, 0.2, 0.3, 0.9, 0],
  ],
  labels: [0, 2, 4, 5, 5, 4],
};
const source = () =>
  new MemorySource({
    test: { pixels: TEST.embeddings.map(pixelsFor), labels: TEST.labels },
    train: { pixels: [pixelsFor([1, 0.5, 0.4, 0.1, 0.3, 0.2])], labels: [3] },
  });
const entry = evaluatorEntries.find((e) => e.kind === "zero_shot")!;
const evaluator = (params: Record<string, unknown>) =>
  entry.create(entry.schema.parse({ image: "image", text: "text", ...params }));
const ENSEMBLE = ["a photo of the number {}.", "a drawing of {}."];

Deno.test("zero_shot schema: defaults and strictness", () => {
  assert.deepEqual(entry.schema.parse({ image: "a", text: "b" }), {
    image: "a",
    text: "b",
    split: "test",
    templates: ["a photo of the number {}."],
    batch: 256,
  });
  for (
    const bad of [
      { image: "a" },
      { image: "a", text: "b", prompts: "digits" },
      { image: "a", text: "b", templates: ["no placeholder"] },
      { image: "a", text: "b", templates: [] },
      { image: "a", text: "b", batch: 0 },
      { image: "a", text: "b", limit: -1 },
    ]
  ) assert.equal(entry.schema.safeParse(bad).success, false, JSON.stringify(bad));
});

Deno.test("zero_shot: 3 of the first 4 right → top-1 0.75, top-5 1.0", async () => {
  const src = source();
  const model = fakeModel();
  const before = tf.memory().numTensors;
  const metrics = await evaluator({ templates: ENSEMBLE, limit: 4 }).evaluate(model, src);
  assert.deepEqual(metrics, { top1: 0.75, top5: 1, n: 4 });
  assert.equal(tf.memory().numTensors, before, "batch, embedding and class tensors disposed");
  assert.deepEqual(src.calls[0], {
    batchSize: 4,
    seed: 0,
    shuffle: false,
    dropLast: false,
    hostPixels: true,
  });
});

Deno.test("zero_shot: whole split in short batches, with a view axis, and another split", async () => {
  const expected = { top1: 4 / 6, top5: 5 / 6, n: 6 };
  for (const [batch, viewAxis] of [[4, false], [256, true], [1, true]] as const) {
    const src = source();
    const model = fakeModel(viewAxis);
    const before = tf.memory().numTensors;
    const metrics = await evaluator({ templates: ENSEMBLE, batch }).evaluate(model, src);
    assert.deepEqual(metrics, expected, `batch ${batch}, view axis ${viewAxis}`);
    assert.equal(model.runs.filter((r) => r === "image").length, Math.ceil(6 / batch));
    assert.equal(tf.memory().numTensors, before);
  }
  const train = await evaluator({ templates: ENSEMBLE, split: "train" }).evaluate(
    fakeModel(),
    source(),
  );
  assert.deepEqual(train, { top1: 0, top5: 0, n: 1 });
});

Deno.test("zero_shot: the prompt ensemble averages templates before classifying", async () => {
  const params = entry.schema.parse({ image: "i", text: "text", templates: ENSEMBLE });
  const classes = await classEmbeddings(fakeModel(), {
    classNames: CLASSES,
    params: params as ZeroShotParams,
  });
  // The ±0.5 tilts cancel: the class matrix is the identity.
  const rows = classes.arraySync();
  rows.forEach((row, c) =>
    row.forEach((v, j) => assert.ok(Math.abs(v - (c === j ? 1 : 0)) < 1e-6))
  );
  classes.dispose();
  // With the first template alone, class c leans towards c + 1: sample 1 ([0, .2, .8, ...],
  // label 2) still wins, but an image [0, .45, .5, 0, 0, 0] labelled 2 goes to class 1.
  const tilted = new MemorySource({
    test: { pixels: [pixelsFor([0, 0.45, 0.5, 0, 0, 0])], labels: [2] },
  });
  const one = await evaluator({}).evaluate(fakeModel(), tilted);
  const both = await evaluator({ templates: ENSEMBLE }).evaluate(fakeModel(), tilted);
  assert.equal(one.top1, 0);
  assert.equal(both.top1, 1);
});

Deno.test("zero_shot errors name the split choices and the dimension mismatch", async () => {
  await assert.rejects(
    evaluator({ split: "val" }).evaluate(fakeModel(), source()),
    /split "val" is not in data source "memory"; expected one of: test, train/,
  );
  const wide: InferenceModel = {
    run: (target, batch) =>
      target === "text"
        ? fakeModel().run(target, batch)
        : Promise.resolve(tf.zeros([(batch.image as tf.Tensor).shape[0]!, C + 1])),
  };
  const before = tf.memory().numTensors;
  await assert.rejects(
    evaluator({ templates: ENSEMBLE }).evaluate(wide, source()),
    /image embeddings have dimension 7 but text embeddings 6/,
  );
  assert.equal(tf.memory().numTensors, before, "nothing leaks on the error path");
});
