import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../core/rng.ts";
import {
  collapseAlarm,
  diagnosticsEntry,
  type DiagnosticsParams,
  diagnosticsSchedule,
  modalityClassifierAccuracy,
  runDiagnostics,
} from "./diagnostics.ts";
import { matrixFromRows } from "./linalg.ts";
import { embeddingModel, EmbeddingSource } from "./testing.ts";

await tf.setBackend("cpu");

const parse = (p: Record<string, unknown>) => diagnosticsEntry.schema.parse(p) as DiagnosticsParams;

const gaussian = (n: number, d: number, seed: number, shift = 0) => {
  const rng = new Rng(seed);
  return Array.from(
    { length: n },
    () => Array.from({ length: d }, (_, k) => rng.normal() + (k === 0 ? shift : 0)),
  );
};

Deno.test("modality classifier: separated cones → 1, identical embeddings → exactly ½", async () => {
  const image = matrixFromRows(gaussian(40, 4, 1, 4));
  const text = matrixFromRows(gaussian(40, 4, 2, -4));
  assert.equal(await modalityClassifierAccuracy(image, text), 1);
  // Each held-out point appears once as image and once as text: one of the two is wrong.
  assert.equal(await modalityClassifierAccuracy(image, image), 0.5);
});

Deno.test("collapseAlarm names the modality, the value and the threshold", () => {
  const thresholds = { min_rank: 2, min_std: 0.05 };
  assert.equal(collapseAlarm({ "image/rank": 8, "image/std": 0.6 }, thresholds), undefined);
  const warning = collapseAlarm({
    "image/rank": 1.01,
    "image/std": 0.6,
    "text/rank": 9,
    "text/std": 0.001,
  }, thresholds);
  assert.match(warning!, /image effective rank 1\.01 < min_rank 2/);
  assert.match(warning!, /text normalised per-dimension std 0\.0010 < min_std 0\.05/);
});

/** A source whose captions are looked up in `texts`: caption i ↦ text embedding row i. */
function paired(image: number[][], text: number[][]) {
  const captions = image.map((_, i) => `c${i}`);
  const texts = Object.fromEntries(captions.map((c, i) => [c, text[i]!]));
  const source = new EmbeddingSource({
    test: { embeddings: image, labels: image.map((_, i) => i % 2), captions },
  }, ["a", "b"]);
  return { source, model: embeddingModel(texts) };
}

Deno.test("runDiagnostics: a healthy pair of embeddings, every metric present and sane", async () => {
  const image = gaussian(200, 8, 3), text = image.map((r) => r.map((v) => v + 0.1));
  const { source, model } = paired(image, text);
  const params = parse({ image: "image", text: "text", slices: 64, batch: 64 });
  const before = tf.memory().numTensors;
  const { metrics, warning } = await runDiagnostics(model, source, params);
  assert.equal(tf.memory().numTensors, before);
  assert.equal(warning, undefined);
  assert.equal(metrics.n, 200);
  assert.equal(metrics.collapse, 0);
  assert.ok(
    metrics["image/rank"]! > 6 && metrics["image/rank"]! <= 8,
    `rank ${metrics["image/rank"]}`,
  );
  assert.ok(metrics["image/std"]! > 0.8, `std ${metrics["image/std"]}`);
  assert.ok(metrics["image/sigreg"]! < 3, `sigreg ${metrics["image/sigreg"]}`);
  assert.ok(metrics.gap! < 0.2, `gap ${metrics.gap}`);
  assert.ok(metrics.alignment! < 0.1, `alignment ${metrics.alignment}`);
  assert.ok(metrics["image/uniformity"]! < -3, `uniformity ${metrics["image/uniformity"]}`);
  assert.ok(metrics.gap_accuracy! < 0.7, `gap accuracy ${metrics.gap_accuracy}`);
});

Deno.test("runDiagnostics: collapsed image embeddings raise the alarm; a shifted text cone shows the gap", async () => {
  const rng = new Rng(5);
  const image = Array.from({ length: 60 }, () => [1, 0.5 + 1e-4 * rng.normal(), 0, 0]);
  const text = gaussian(60, 4, 6).map(([a, b, c, d]) => [a!, b!, c! + 6, d!]); // a cone around axis 2
  const { source, model } = paired(image, text);
  const params = parse({ image: "image", text: "text", slices: 32 });
  const { metrics, warning } = await runDiagnostics(model, source, params);
  assert.match(
    warning!,
    /collapse alarm: image effective rank 1\.00 < min_rank 2; image normalised per-dimension std/,
  );
  assert.equal(metrics.collapse, 1);
  assert.ok(metrics["image/sigreg"]! > 10, "SIGReg of a collapsed batch grows with N");
  assert.equal(metrics.gap_accuracy, 1);
  assert.ok(metrics.gap! > 0.5);
});

Deno.test("diagnostics: image-only, and the training schedule comes from `every`", async () => {
  const { source, model } = paired(gaussian(20, 3, 7), gaussian(20, 3, 8));
  const params = diagnosticsEntry.schema.parse({ image: "image", slices: 16 });
  const metrics = await diagnosticsEntry.create(params).evaluate(model, source);
  assert.deepEqual(Object.keys(metrics).sort(), [
    "collapse",
    "image/rank",
    "image/sigreg",
    "image/std",
    "image/uniformity",
    "n",
  ]);
  const every = diagnosticsEntry.schema.parse({ image: "image", every: 50 });
  const specs = [
    { kind: "zero_shot", name: "zero_shot", params: {} },
    { kind: "diagnostics", name: "diagnostics", params },
    { kind: "diagnostics", name: "diag_train", params: every },
  ];
  assert.deepEqual(diagnosticsSchedule(specs), {
    name: "diag_train",
    index: 2,
    every: 50,
    params: every,
  });
  assert.equal(diagnosticsSchedule(specs.slice(0, 2)), undefined);
});
