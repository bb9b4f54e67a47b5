import assert from "node:assert/strict";
import { parse } from "csv-parse/sync";
import { collectSweep } from "./collect.ts";
import { csvField, membersCsv, tableCsv, toCsv } from "./csv.ts";
import { buildTable } from "./table.ts";
import { tempDir, writeLambdaSweep } from "./testing.ts";

async function lambda() {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeLambdaSweep(dir);
  const results = await collectSweep(dir);
  return { results, table: buildTable(results) };
}

const num = (s: string) => (s === "" ? undefined : Number(s));

Deno.test("csvField: RFC 4180 quoting; raw numbers; empty for missing", () => {
  assert.equal(csvField("plain"), "plain");
  assert.equal(csvField('a,"b"\nc'), '"a,""b""\nc"');
  assert.equal(csvField(0.1 + 0.2), "0.30000000000000004");
  assert.equal(csvField(NaN), "");
  assert.equal(csvField(undefined), "");
  assert.equal(csvField(true), "1");
  assert.equal(toCsv([["a", 1], ["b,c", undefined]]), 'a,1\r\n"b,c",\r\n');
});

Deno.test("table.csv round-trips through csv-parse to the table's numbers", async () => {
  const { table } = await lambda();
  const rows: Record<string, string>[] = parse(tableCsv(table), { columns: true });
  assert.equal(rows.length, table.rows.length);
  table.rows.forEach((row, i) => {
    const r = rows[i]!;
    assert.equal(r.variant, row.variant);
    assert.equal(num(r["vars.lambda"]!), row.grid["vars.lambda"]);
    table.metrics.forEach((metric, k) => {
      const s = row.cells[k]?.summary;
      assert.equal(num(r[`${metric.key}_mean`]!), s?.mean);
      assert.equal(num(r[`${metric.key}_std`]!), s && Number.isFinite(s.std) ? s.std : undefined);
      const low = s && Number.isFinite(s.ciLow) ? s.ciLow : undefined;
      assert.equal(num(r[`${metric.key}_ci_low`]!), low);
      assert.equal(num(r[`${metric.key}_n`]!), s?.n ?? 0);
      assert.equal(r[`${metric.key}_best`], row.cells[k]?.best ? "1" : "0");
    });
    assert.equal(num(r.minutes!), row.minutes);
    assert.equal(num(r.images_per_s!), row.imagesPerSecond);
    assert.equal(r.status, row.status);
    assert.equal(num(r.failed!), row.counts.failed);
    assert.equal(num(r.not_run!), row.counts["not run"]);
  });
  assert.equal(rows[1]!["zero_shot.top1_best"], "1");
  assert.equal(rows[2]!["diagnostics.gap_best"], "1");
  assert.equal(rows[3]!.status, "1/3 (1 running, 1 unreadable)");
});

Deno.test("members.csv: one row per member with seed, state, raw values and the error", async () => {
  const { results } = await lambda();
  const rows: Record<string, string>[] = parse(
    membersCsv(results.manifest, results.members),
    { columns: true },
  );
  assert.equal(rows.length, 12);
  assert.deepEqual(rows.map((r) => r.seed), Array(4).fill(["0", "1", "2"]).flat());
  assert.deepEqual(rows.slice(0, 3).map((r) => num(r["zero_shot.top1"]!)), [0.9, 0.92, 0.94]);
  const failed = rows[5]!;
  assert.equal(failed.state, "failed");
  assert.equal(
    failed["zero_shot.top1"],
    "",
    "a failed member's numbers are not reported as results",
  );
  assert.equal(failed.error, 'NaN loss at step 7, "sigreg"\nstack…');
  assert.deepEqual(rows.slice(8).map((r) => r.state), ["not run", "running", "unreadable", "done"]);
  assert.equal(rows[6]!["retrieval.r1"], "");
  assert.equal(num(rows[6]!.images_per_s!), 400);
});
