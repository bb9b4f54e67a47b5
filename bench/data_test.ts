import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { benchData, formatDataBench } from "./data.ts";

await tf.setBackend("cpu");

Deno.test("bench data: four modes with finite, positive throughputs and a table", async () => {
  const workDir = await Deno.makeTempDir();
  const r = await benchData({ images: 8, batch: 4, size: 32, concurrency: 2, workDir });
  assert.equal(r.backend, "cpu");
  assert.deepEqual(r.rows.map((row) => [row.mode, row.concurrency]), [
    ["single", 1],
    ["concurrent", 2],
    ["prefetch", 2],
    ["cached", 2],
  ]);
  for (const row of r.rows) {
    assert.ok(row.decoded_per_s > 0 && Number.isFinite(row.decoded_per_s));
    assert.ok(row.augmented_per_s > 0 && Number.isFinite(row.augmented_per_s));
  }
  const table = formatDataBench(r);
  assert.match(table, /8 JPEGs 256² → 32², batch 4/);
  assert.match(table, /prefetch\s+concurrency\s+2:\s+\d+ decoded\/s,\s+\d+ decoded\+augmented\/s/);
  assert.match(table, /cached\s+concurrency\s+2:\s+\d+ decoded\/s/);
  const plain = await benchData({
    images: 4,
    batch: 4,
    size: 16,
    augment: false,
    workDir,
    sourceSide: 40,
  });
  assert.match(formatDataBench(plain), /4 JPEGs 40² → 16²/);
  assert.ok(plain.rows.every((row) => Number.isNaN(row.augmented_per_s)));
  assert.deepEqual([...Deno.readDirSync(workDir)], [], "the JPEGs are removed");
  await Deno.remove(workDir);
});
