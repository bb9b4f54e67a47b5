import assert from "node:assert/strict";
import { join } from "node:path";
import { collectSweep } from "./collect.ts";
import {
  baselineRow,
  comparisonCsv,
  comparisonMarkdown,
  pairedDelta,
  repeatedSeeds,
} from "./paired.ts";
import { buildTable } from "./table.ts";
import { tempDir, writeLambdaSweep } from "./testing.ts";
import { writeSweepReport } from "./write.ts";

const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-9, `${a} vs ${b}`);

Deno.test("paired comparison: differences by shared finished seed, std and the paired t-test", async () => {
  await using tmp = await tempDir();
  await writeLambdaSweep(tmp.path);
  const table = buildTable(await collectSweep(tmp.path));
  const base = baselineRow(table, "nova,lambda=0");
  const row = (name: string) => baselineRow(table, name);
  // nova λ=0.1 (seed 2 failed) against nova λ=0: seeds 0, 1; R@1 .6 − .5, .7 − .5.
  const r1 = pairedDelta(row("nova,lambda=0.1"), base, "retrieval.r1");
  assert.deepEqual(r1.seeds, [0, 1]);
  close(r1.mean, 0.15);
  close(r1.std, Math.SQRT1_2 * 0.1);
  // t = 0.15 / (0.0707 / √2) = 3 at one degree of freedom: p = 1 − (2/π)·atan 3.
  close(r1.p, 1 - (2 / Math.PI) * Math.atan(3));
  // clip λ=0 (seed 2 not run): top-1 .80 − .90, .84 − .92; t = −9.
  const top1 = pairedDelta(row("clip,lambda=0"), base, "zero_shot.top1");
  close(top1.mean, -0.09);
  close(top1.p, 1 - (2 / Math.PI) * Math.atan(9));
  // A metric the variant never reported, and a single pair: no spread, no p.
  assert.deepEqual(pairedDelta(row("clip,lambda=0"), base, "retrieval.r1").seeds, []);
  const one = pairedDelta(row("clip,lambda=0.1"), base, "zero_shot.top1");
  assert.deepEqual(one.seeds, [2]);
  close(one.mean, 0.85 - 0.94);
  assert.ok(Number.isNaN(one.std) && Number.isNaN(one.p));

  const md = comparisonMarkdown(table, "nova,lambda=0");
  assert.match(md, /^### Against nova,lambda=0, paired by seed$/m);
  assert.match(
    md,
    /^\| variant \| Δ zero-shot top-1 \(pp\) \| p \| n \| Δ modality gap \| p \| n \|/m,
  );
  assert.match(md, /^\| clip,lambda=0 \| -9\.00 ± 1\.41 \| 0\.0704 \| 2 \| /m);
  assert.match(
    md,
    /^\| nova,lambda=0\.1 \| \+5\.00 ± 0\.00 \| < 0\.001 \| 2 \| .* \| \+0\.1500 ± 0\.0707 \| 0\.205 \| 2 \|$/m,
  );
  assert.match(md, /^\| clip,lambda=0\.1 \| -9\.00 \| – \| 1 \|/m);
  assert.doesNotMatch(md, /^\| nova,lambda=0 \|/m);
  const csv = comparisonCsv(table, "nova,lambda=0").split("\r\n");
  assert.match(csv[0]!, /^variant,baseline,zero_shot\.top1_delta,zero_shot\.top1_delta_std,/);
  assert.equal(csv.length, 5); // header, three variants, the final CRLF

  assert.throws(
    () => comparisonMarkdown(table, "nova"),
    /--baseline nova: no such variant; expected one of: nova,lambda=0, nova,lambda=0\.1/,
  );
});

Deno.test("writeSweepReport --baseline: comparison.md and .csv, and a README section", async () => {
  await using tmp = await tempDir();
  await writeLambdaSweep(tmp.path);
  const report = await writeSweepReport(tmp.path, { baseline: "clip,lambda=0" });
  const out = join(tmp.path, "report");
  assert.equal(await Deno.readTextFile(join(out, "comparison.md")), report.comparison);
  assert.match(await Deno.readTextFile(join(out, "comparison.csv")), /^variant,baseline,/);
  const readme = await Deno.readTextFile(report.files.readme);
  assert.match(readme, /--baseline 'clip,lambda=0'|--baseline clip,lambda=0/);
  assert.match(readme, /^## Against clip,lambda=0, paired by seed$/m);
  // A wrong baseline stops before anything is written.
  await using other = await tempDir();
  await writeLambdaSweep(other.path);
  await assert.rejects(
    () => writeSweepReport(other.path, { baseline: "sigLIP" }),
    /no such variant/,
  );
  await assert.rejects(() => Deno.stat(join(other.path, "report")), Deno.errors.NotFound);
});

Deno.test("paired comparison: finished members sharing a seed are named (runs without seed:)", async () => {
  await using tmp = await tempDir();
  await writeLambdaSweep(tmp.path);
  const table = buildTable(await collectSweep(tmp.path));
  const row = baselineRow(table, "nova,lambda=0");
  assert.deepEqual(repeatedSeeds(row), []);
  // A second finished member with seed 1 (as two hand-made runs of one recipe would be).
  row.members.push({ ...row.members[1]!, member: { ...row.members[1]!.member, id: "again" } });
  assert.deepEqual(repeatedSeeds(row), [1]);
  const md = comparisonMarkdown(table, "clip,lambda=0");
  assert.match(
    md,
    /Several finished members share a seed in: nova,lambda=0 \(seed 1\); only the last/,
  );
});
