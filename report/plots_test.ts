import assert from "node:assert/strict";
import { collectSweep } from "./collect.ts";
import { sweepPlots } from "./plots.ts";
import { buildTable } from "./table.ts";
import { done, tempDir, writeFixtureSweep, writeLambdaSweep } from "./testing.ts";

type Layer = { data?: { values: Record<string, unknown>[] } };

Deno.test("sweepPlots: seed spread per metric, then metric vs each grid factor", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeLambdaSweep(dir);
  const results = await collectSweep(dir);
  const plots = sweepPlots(results, buildTable(results));
  assert.deepEqual(plots.map((p) => p.stem), [
    "zero_shot.top1_seeds",
    "diagnostics.gap_seeds",
    "retrieval.r1_seeds",
    "zero_shot.top1_vs_vars.lambda",
    "diagnostics.gap_vs_vars.lambda",
    "retrieval.r1_vs_vars.lambda",
  ]);
  // Seed spread of top-1: the 8 finished seeds in percent; the failed one (top-1 0) is absent.
  const [bars, ticks, seeds] = plots[0]!.spec.layer as Layer[];
  const values = seeds!.data!.values;
  assert.deepEqual(values.map((v) => Math.round(v.value as number)), [
    90,
    92,
    94,
    95,
    97,
    80,
    84,
    85,
  ]);
  assert.equal(values[3]!.label, "nova,lambda=0.1 [2/3 (1 failed)]");
  const nova0 = bars!.data!.values[0]!;
  assert.ok(
    Math.abs((nova0.low as number) - 90) < 1e-9 && Math.abs((nova0.high as number) - 94) < 1e-9,
  );
  assert.equal(ticks!.data!.values.length, 4);
  // Metric vs λ: one point per finished seed with its factor value, series by recipe.
  const points = (plots[3]!.spec.data as { values: Record<string, unknown>[] }).values;
  assert.deepEqual(points.map((p) => [p.series, p.x]), [
    ["nova", 0],
    ["nova", 0],
    ["nova", 0],
    ["nova", 0.1],
    ["nova", 0.1],
    ["clip", 0],
    ["clip", 0],
    ["clip", 0.1],
  ]);
});

Deno.test("sweepPlots: no grid → no factor plots; a metric nobody reported → no plot", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeFixtureSweep(dir, {}, [
    { label: "top-1", key: "zero_shot.top1", better: "higher" },
    { label: "never", key: "nothing.here", better: "higher" },
  ], [
    { recipe: "nova", seed: 0, status: done(0.9, 0.5) },
    { recipe: "clip", seed: 0, status: done(0.8, 0.5) },
  ]);
  const results = await collectSweep(dir);
  assert.deepEqual(sweepPlots(results, buildTable(results)).map((p) => p.stem), [
    "zero_shot.top1_seeds",
  ]);
});

Deno.test("sweepPlots: with two factors, a factor plot's series carries the other factor", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const metrics = [{ label: "gap", key: "diagnostics.gap", better: "lower" as const }];
  await writeFixtureSweep(dir, { factors: ["vars.a", "vars.b"] }, metrics, [
    { recipe: "n", grid: { "vars.a": 1, "vars.b": "x" }, seed: 0, status: done(0.5, 0.1) },
    { recipe: "n", grid: { "vars.a": 2, "vars.b": "x" }, seed: 0, status: done(0.5, 0.2) },
    { recipe: "n", grid: { "vars.a": 1, "vars.b": "y" }, seed: 0, status: done(0.5, 0.3) },
  ]);
  const results = await collectSweep(dir);
  const plots = sweepPlots(results, buildTable(results));
  assert.deepEqual(plots.map((p) => p.stem), [
    "diagnostics.gap_seeds",
    "diagnostics.gap_vs_vars.a",
    "diagnostics.gap_vs_vars.b",
  ]);
  const values = (p: number) =>
    (plots[p]!.spec.data as { values: Record<string, unknown>[] }).values;
  assert.deepEqual(values(1).map((v) => [v.series, v.x]), [["n, b=x", 1], ["n, b=x", 2], [
    "n, b=y",
    1,
  ]]);
  assert.deepEqual(values(2).map((v) => [v.series, v.x]), [["n, a=1", "x"], ["n, a=2", "x"], [
    "n, a=1",
    "y",
  ]]);
});
