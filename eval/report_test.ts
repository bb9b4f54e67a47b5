import assert from "node:assert/strict";
import * as tf from "@tensorflow/tfjs";
import { barGroups, curvesFromRecords, renderSvg } from "./plots.ts";
import { metricTables, projectEmbeddings, writeReport } from "./report.ts";
import { FIXTURE_CLASSES, reportFixture } from "./report_fixture.ts";
import { reportNodes, writeRunReport } from "./run_report.ts";
import { embeddingModel, EmbeddingSource } from "./testing.ts";

await tf.setBackend("cpu");

Deno.test("curvesFromRecords: loss and terms apart from the other curves; non-numbers skipped", () => {
  const { losses, others } = curvesFromRecords([
    { step: 4, loss: 2, terms: { clip: 2 }, lr: 0.1, ms: 3, note: "x" },
    { step: 9, diagnostics: { "image/rank": 7, gap: null } },
    { loss: 5 }, // no step: ignored
  ]);
  assert.deepEqual(losses, [
    { step: 4, value: 2, series: "loss (weighted total)" },
    { step: 4, value: 2, series: "clip" },
  ]);
  assert.deepEqual(others, [
    { step: 4, value: 0.1, series: "lr" },
    { step: 9, value: 7, series: "diagnostics.image/rank" },
  ]);
});

Deno.test("barGroups: per-class accuracy and per-finding AUROC with CI whiskers", () => {
  const groups = barGroups({
    top1: 0.5,
    "acc/a": 0.25,
    "auroc/x": 0.8,
    "auroc_ci_low/x": 0.7,
    "auroc_ci_high/x": 0.9,
    "mcc/x": 0.1,
  });
  assert.deepEqual([...groups.keys()], ["acc", "auroc"]);
  assert.deepEqual(groups.get("acc"), [{ item: "a", value: 0.25 }]);
  assert.deepEqual(groups.get("auroc"), [{ item: "x", value: 0.8, low: 0.7, high: 0.9 }]);
});

Deno.test("metricTables: plain keys and a pivot of <metric>/<item>, HTML-escaped", () => {
  const html = metricTables("z<s>", { top1: 0.91234, n: 10, "acc/a&b": 0.5, "f1/a&b": 1 });
  assert.match(html, /<h3>z&lt;s&gt;<\/h3>/);
  assert.match(html, /<tr><td>top1<\/td><td>0\.9123<\/td><\/tr><tr><td>n<\/td><td>10<\/td><\/tr>/);
  assert.match(
    html,
    /<tr><th><\/th><th>acc<\/th><th>f1<\/th><\/tr><tr><td>a&amp;b<\/td><td>0\.5<\/td><td>1<\/td><\/tr>/,
  );
});

Deno.test("projectEmbeddings: joint PCA separates the modalities along the gap", () => {
  const { points, explained } = projectEmbeddings(reportFixture().embeddings!);
  assert.equal(points.length, 300);
  assert.deepEqual(points[0], { ...points[0]!, modality: "image", class: "zero" });
  assert.equal(points[150]!.modality, "text");
  assert.ok(explained[0]! > 0.1 && explained[0]! + explained[1]! <= 1 + 1e-12);
  const mean = (m: string, k: "pc1" | "pc2") =>
    points.filter((p) => p.modality === m).reduce((s, p) => s + p[k], 0) / 150;
  const gap = Math.hypot(
    mean("image", "pc1") - mean("text", "pc1"),
    mean("image", "pc2") - mean("text", "pc2"),
  );
  assert.ok(gap > 0.3, `modality clouds are apart in the projection (${gap})`);
});

Deno.test("renderSvg draws a Vega-Lite line chart in Deno", async () => {
  const svg = await renderSvg({
    data: { values: [{ x: 0, y: 1 }, { x: 1, y: 3 }] },
    mark: "line",
    encoding: { x: { field: "x", type: "quantitative" }, y: { field: "y", type: "quantitative" } },
  });
  assert.match(svg, /^<svg [^>]*xmlns="http:\/\/www\.w3\.org\/2000\/svg"/);
  // The line from (0, 1) to (1, 3) on a 300 × 300 plot with y from 0 to 3.
  assert.match(svg, /class="mark-line role-mark marks"[^>]*><path [^>]*d="M0,200L300,0"/);
});

Deno.test("writeReport writes a self-contained report.html and one SVG per plot", async () => {
  const dir = await Deno.makeTempDir({ prefix: "novalab-report-" });
  const files = await writeReport(dir, reportFixture());
  assert.deepEqual(files.svgs.map((p) => p.slice(dir.length)), [
    "/plots/loss.svg",
    "/plots/metrics.svg",
    "/plots/zero_shot_acc.svg",
    "/plots/zero_shot_binary_auroc.svg",
    "/plots/embeddings.svg",
  ]);
  const html = await Deno.readTextFile(files.html);
  assert.equal(html.match(/<figure class="plot"/g)?.length, 5);
  assert.equal(html.match(/<svg /g)?.length, 5, "SVGs inlined");
  assert.doesNotMatch(html, /<script|<link|src=|@import/, "nothing to fetch: works offline");
  for (const c of FIXTURE_CLASSES) assert.match(html, new RegExp(`<td>${c}</td>`));
  assert.match(html, /explained variance \d+\.\d%, \d+\.\d%/);
  for (const path of files.svgs) assert.match(await Deno.readTextFile(path), /^<svg /);
  await Deno.remove(dir, { recursive: true });
});

Deno.test("writeRunReport reads metrics.jsonl and embeds the nodes the evaluators name", async () => {
  const dir = await Deno.makeTempDir({ prefix: "novalab-run-report-" });
  await Deno.writeTextFile(
    `${dir}/metrics.jsonl`,
    '{"step":0,"loss":1,"terms":{"clip":1}}\n{"step":1,"loss":0.5,"terms":{"clip":0.5}}\n',
  );
  const specs = [{ kind: "knn", params: { image: "image" } }, {
    kind: "zero_shot",
    params: { image: "image", text: "text" },
  }];
  assert.deepEqual(reportNodes(specs), { image: "image", text: "text" });
  assert.equal(reportNodes(specs.slice(0, 1)), undefined);
  const source = new EmbeddingSource({
    test: { embeddings: [[1, 0], [0, 1], [1, 1]], labels: [0, 1, -1], captions: ["a", "b", "a"] },
  }, ["A", "B"]);
  const model = embeddingModel({ a: [1, 0.1], b: [0.1, 1] });
  const files = await writeRunReport(dir, {
    eval: { zero_shot: { top1: 1 } },
    specs,
    model,
    source,
  });
  const html = await Deno.readTextFile(files.html);
  assert.equal(files.svgs.length, 2, "loss curve and projection (no other curves, no bars)");
  assert.match(html, /data-plot="embeddings"/);
  assert.match(html, /<h2>Training curves<\/h2><figure/);
  await Deno.remove(dir, { recursive: true });
});
