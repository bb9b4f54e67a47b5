import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { DATA_FACTS_FILE, FactsSource, readDataFacts, writeDataFacts } from "./data_facts.ts";
import type { DataSource } from "./types.ts";

await tf.setBackend("cpu");

const source = {
  name: "cxr",
  classNames: [],
  labelNames: ["Edema", "Pleural Effusion"],
  imageShape: [32, 24, 3],
  splits: {},
} as unknown as DataSource;

Deno.test("data facts: written and read back; no file is undefined; a bad file is named", async () => {
  const dir = await Deno.makeTempDir({ prefix: "novalab_facts_" });
  try {
    assert.equal(await readDataFacts(dir), undefined);
    await writeDataFacts(dir, source);
    assert.deepEqual(await readDataFacts(dir), {
      source: "cxr",
      classes: [],
      labels: ["Edema", "Pleural Effusion"],
      image_shape: [32, 24, 3],
    });
    await Deno.writeTextFile(`${dir}/${DATA_FACTS_FILE}`, '{"source": "x", "classes": []}');
    await assert.rejects(
      () => readDataFacts(dir),
      /data\.json: expected \{ source, classes: \[names\], labels: \[names\], image_shape/,
    );
    await Deno.writeTextFile(`${dir}/${DATA_FACTS_FILE}`, "{");
    await assert.rejects(() => readDataFacts(dir), /data\.json: .*JSON/);
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});

Deno.test("FactsSource: batches of the training shape, class names as captions, no splits", async () => {
  const facts = new FactsSource({
    source: "digits",
    classes: ["zero", "one", "two"],
    labels: [],
    image_shape: [28, 28, 1],
  });
  const batch = await facts.batch("train", 0, {
    batchSize: 4,
    seed: 0,
    shuffle: false,
    dropLast: false,
  });
  assert.deepEqual(batch.image.shape, [4, 28, 28, 1]);
  assert.equal((await batch.image.max().data())[0], 0);
  assert.deepEqual(batch.caption, ["zero", "one", "two", "zero"]);
  assert.deepEqual([...batch.label], [0, 0, 0, 0]);
  batch.image.dispose();
  assert.deepEqual(facts.splits, {});
  assert.deepEqual(facts.classNames, ["zero", "one", "two"]);
  assert.equal(facts.batchesPerEpoch(), 0);
});
