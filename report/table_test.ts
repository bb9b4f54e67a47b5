import assert from "node:assert/strict";
import { collectSweep } from "./collect.ts";
import {
  formatMeanStd,
  formatNumber,
  formatQuantity,
  isPercentMetric,
  styleFor,
} from "./format.ts";
import { tableMarkdown } from "./markdown.ts";
import { buildTable } from "./table.ts";
import { done, tempDir, writeFixtureSweep, writeLambdaSweep } from "./testing.ts";

const close = (a: number | undefined, b: number, tol = 1e-12) =>
  assert.ok(a !== undefined && Math.abs(a - b) <= tol, `${a} ≉ ${b}`);

async function lambdaTable() {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeLambdaSweep(dir);
  return buildTable(await collectSweep(dir));
}

Deno.test("buildTable: mean ± sample std over finished seeds; failed members are not averaged", async () => {
  const table = await lambdaTable();
  const [nova0, nova1, clip0, clip1] = table.rows;
  const top1 = (r: typeof nova0) => r!.cells[0]!.summary;
  close(top1(nova0).mean, 0.92);
  close(top1(nova0).std, 0.02);
  close(nova0!.cells[1]!.summary.std, 0.1);
  assert.deepEqual(nova0!.cells[2]!.summary.values, [0.5, 0.5, 0.5]);
  // The failed seed reported top-1 0 and gap 100: not in the means.
  assert.deepEqual(top1(nova1).values, [0.95, 0.97]);
  close(top1(nova1).mean, 0.96);
  close(top1(nova1).std, Math.SQRT2 / 100);
  close(nova1!.cells[1]!.summary.mean, 0.35);
  assert.equal(top1(clip1).n, 1);
  close(nova0!.minutes, 2);
  close(clip0!.imagesPerSecond, 500);
  assert.deepEqual(table.rows.map((r) => r.status), [
    "3/3",
    "2/3 (1 failed)",
    "2/3 (1 not run)",
    "1/3 (1 running, 1 unreadable)",
  ]);
  assert.deepEqual(clip1!.counts, {
    total: 3,
    done: 1,
    failed: 0,
    running: 1,
    "not run": 0,
    unreadable: 1,
  });
});

Deno.test("buildTable: best mean per column honours `better`; missing metrics stay missing", async () => {
  const table = await lambdaTable();
  const best = table.rows.map((r) => r.cells.map((c) => c?.best));
  assert.deepEqual(best, [
    [false, false, false],
    [true, false, true], // top-1 .96 and R@1 .65: highest
    [false, true, undefined], // gap .25: lowest, and lower is better
    [false, false, undefined],
  ]);
});

Deno.test("buildTable: ties are all marked; a lone variant is not", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const metrics = [{ label: "gap", key: "diagnostics.gap", better: "lower" as const }];
  await writeFixtureSweep(dir, {}, metrics, [
    { recipe: "a", seed: 0, status: done(0.5, 0.3) },
    { recipe: "a", seed: 1, status: done(0.5, 0.1) },
    { recipe: "b", seed: 0, status: done(0.5, 0.1) },
    { recipe: "b", seed: 1, status: done(0.5, 0.3) },
    { recipe: "c", seed: 0, status: done(0.5, 0.9) },
  ]);
  const table = buildTable(await collectSweep(dir));
  assert.deepEqual(table.rows.map((r) => r.cells[0]!.best), [true, true, false]);
  await using loneTmp = await tempDir();
  const lone = loneTmp.path;
  await writeFixtureSweep(lone, {}, metrics, [{ recipe: "a", seed: 0, status: done(0.5, 0.3) }]);
  assert.equal(buildTable(await collectSweep(lone)).rows[0]!.cells[0]!.best, false);
});

Deno.test("tableMarkdown: percentages, bold best, – for missing, every absent member named", async () => {
  const md = tableMarkdown(await lambdaTable());
  const lines = md.split("\n");
  assert.equal(lines[0], "### nova_lambda");
  assert.equal(
    lines[2],
    "| variant | vars.lambda | zero-shot top-1 (%) ↑ | 95% CI | modality gap ↓ | 95% CI | R@1 ↑ " +
      "| 95% CI | min/member | images/s | seeds |",
  );
  assert.equal(
    lines[4],
    "| nova,lambda=0 | 0 | 92.00 ± 2.00 | [90.00, 94.00] | 0.6000 ± 0.1000 | [0.5000, 0.7000] " +
      "| 0.5000 ± 0.0000 | [0.5000, 0.5000] | 2 | 500 | 3/3 |",
  );
  assert.match(
    lines[5]!,
    /^\| nova,lambda=0\.1 \| 0\.1 \| \*\*96\.00 ± 1\.41\*\* \| \[95\.00, 97\.00\] \|/,
  );
  assert.match(lines[5]!, /\| 2\/3 \(1 failed\) \|$/);
  assert.match(lines[6]!, /\| \*\*0\.2500 ± 0\.0707\*\* \| \[0\.2000, 0\.3000\] \| – \| – \|/);
  assert.match(lines[7]!, /^\| clip,lambda=0\.1 \| 0\.1 \| 85\.00 \| – \| 0\.9000 \| – \|/);
  assert.match(md, /- `nova,lambda=0\.1-s2`: failed: NaN loss at step 7, "sigreg"\n/);
  assert.match(md, /- `clip,lambda=0-s2`: not run: no status\.json/);
  assert.match(md, /- `clip,lambda=0\.1-s0`: unfinished: status\.json says running/);
  assert.match(md, /- `clip,lambda=0\.1-s1`: unreadable status\.json: .*not valid JSON/);
  assert.match(
    md,
    /- `retrieval\.r1` \(3 of 8\): `clip,lambda=0-s0`, `clip,lambda=0-s1`, `clip,lambda=0\.1-s2`\n/,
  );
  assert.match(md, /10000 resamples, seed 0/);
});

Deno.test("tableMarkdown: (n=k) when finished seeds lack a metric; toggle column", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const metrics = [{ label: "R@1", key: "retrieval.r1", better: "higher" as const }];
  const r1 = (v: number) => done(0.5, 0.5, { eval: { retrieval: { r1: v } } });
  await writeFixtureSweep(dir, { toggles: { t: "a toggle" } }, metrics, [
    { recipe: "a", seed: 0, status: r1(0.25) },
    { recipe: "a", seed: 1, status: r1(0.75) },
    { recipe: "a", seed: 2, status: done(0.5, 0.5) },
    { recipe: "a", toggle: "t", seed: 0, status: r1(0.125) },
  ]);
  const md = tableMarkdown(buildTable(await collectSweep(dir)));
  assert.match(
    md,
    /\| a \| baseline \| \*\*0\.5000 ± 0\.3536 \(n=2\)\*\* \| \[0\.2500, 0\.7500\] \|/,
  );
  assert.match(md, /\| a\+t \| t \| 0\.1250 \| – \|/);
});

Deno.test("format: percent only for accuracy-like metrics in [0, 1]; 4 significant digits otherwise", () => {
  const metric = (key: string, label = key) => ({ key, label, better: "higher" as const });
  assert.ok(isPercentMetric(metric("zero_shot.top1"), [0.5, 1]));
  assert.ok(isPercentMetric(metric("probe.accuracy"), [0]));
  assert.ok(isPercentMetric(metric("x.y", "acc (%)"), [0.3]));
  assert.ok(!isPercentMetric(metric("zero_shot.top1"), [0.5, 1.5]));
  assert.ok(!isPercentMetric(metric("diagnostics.gap"), [0.5]));
  const s = (mean: number, std = NaN) => ({ mean, std, n: 2, ciLow: NaN, ciHigh: NaN, values: [] });
  assert.equal(formatMeanStd(s(0.950123, 0.00141), true), "95.01 ± 0.14");
  assert.equal(formatMeanStd(s(123.456, 2.5), false), "123.5 ± 2.5");
  assert.equal(formatMeanStd(s(12345.6, 10), false), "12346 ± 10");
  assert.equal(formatMeanStd(s(0.000123, 0.00001), false), "1.230e-4 ± 1.000e-5");
  assert.equal(formatMeanStd(s(0, 0.05), false), "0.00000 ± 0.05000");
  assert.equal(formatNumber(-0.00001, styleFor(s(1), false)), "0.000");
  assert.equal(formatQuantity(2), "2");
  assert.equal(formatQuantity(0.123456), "0.123");
  assert.equal(formatQuantity(512.6), "513");
  assert.equal(formatQuantity(undefined), "–");
});
