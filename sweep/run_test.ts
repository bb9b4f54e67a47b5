import assert from "node:assert/strict";
import { expandSweep } from "./expand.ts";
import { parseShard } from "./expand.ts";
import { runSweep, type SweepOptions } from "./run.ts";
import { loadSweep } from "./spec.ts";
import { memberDir, readStatus, writeStatus } from "./status.ts";
import { writeTinySweep } from "./testing.ts";

const test = (name: string, fn: () => Promise<void>) =>
  Deno.test({ name, sanitizeResources: false, sanitizeOps: false, fn });

function options(out: string, lines: string[] = []): SweepOptions {
  return { out, backend: "wasm", quiet: true, log: (l) => lines.push(l) };
}

async function doneIds(out: string, ids: string[]): Promise<string[]> {
  const done: string[] = [];
  for (const id of ids) if ((await readStatus(memberDir(out, id)))?.state === "done") done.push(id);
  return done;
}

test("sweep: two shards run into one directory produce exactly the whole sweep", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "novalab-sweep-shards-" });
  const file = await writeTinySweep(tmp, { seeds: [0, 1, 2] });
  const whole = expandSweep(await loadSweep(file)).map((m) => m.id);
  assert.deepEqual(whole, ["clip-s0", "clip-s1", "clip-s2"]);
  const out = `${tmp}/out`;
  const a = await runSweep(file, { ...options(out), shard: parseShard("0/2") });
  const manifest = await Deno.readTextFile(`${out}/sweep.json`);
  const b = await runSweep(file, { ...options(out), shard: parseShard("1/2") });
  assert.deepEqual(a.outcomes.map((o) => o.member.id), ["clip-s0", "clip-s2"]);
  assert.deepEqual(b.outcomes.map((o) => o.member.id), ["clip-s1"]);
  assert.equal(await Deno.readTextFile(`${out}/sweep.json`), manifest, "shards write one manifest");
  assert.deepEqual(JSON.parse(manifest).members.map((m: { id: string }) => m.id), whole);
  const ran = [...a.outcomes, ...b.outcomes].map((o) => o.member.id);
  assert.equal(new Set(ran).size, ran.length, "no member ran in both shards");
  assert.deepEqual(new Set(ran), new Set(whole));
  assert.deepEqual(await doneIds(out, whole), whole);
  const dirs = [...Deno.readDirSync(`${out}/members`)].map((e) => e.name).sort();
  assert.deepEqual(dirs, [...whole].sort(), "no member directory beyond the sweep's members");
  await Deno.remove(tmp, { recursive: true });
});

test("sweep: a failing member is marked failed with its error and the sweep goes on", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "novalab-sweep-fail-" });
  // lr = 1e30 blows the parameters up after one step: the next loss is not finite.
  const file = await writeTinySweep(tmp, {
    seeds: [0],
    grid: ["train.optimizer.lr: [1e30, 1e-3]"],
  });
  const out = `${tmp}/out`;
  const lines: string[] = [];
  const first = await runSweep(file, options(out, lines));
  assert.deepEqual(first.outcomes.map((o) => [o.member.id, o.status.state]), [
    ["clip,lr=1e+30-s0", "failed"],
    ["clip,lr=0.001-s0", "done"],
  ]);
  assert.deepEqual(first.failed, ["clip,lr=1e+30-s0"]);
  const failed = (await readStatus(memberDir(out, "clip,lr=1e+30-s0")))!;
  assert.match(failed.error!, /non-finite values at step \d/);
  assert.ok(failed.finished && failed.wall_s !== undefined);
  assert.match(lines[1]!, /\[1\/2\] +clip,lr=1e\+30-s0 +failed .*non-finite values/);
  assert.match(lines.at(-1)!, /1 done, 1 failed$/);

  // A rerun skips the failed member (and the finished one) unless asked to retry it.
  const second = await runSweep(file, options(out));
  assert.deepEqual(second.outcomes.map((o) => o.action), ["skipped", "skipped"]);
  assert.deepEqual(second.failed, ["clip,lr=1e+30-s0"], "still reported as failed");
  const third = await runSweep(file, { ...options(out), retryFailed: true });
  assert.deepEqual(third.outcomes.map((o) => o.action), ["ran", "skipped"]);
  assert.notEqual((await readStatus(memberDir(out, "clip,lr=1e+30-s0")))!.started, failed.started);
  await Deno.remove(tmp, { recursive: true });
});

test("sweep: members run with another recipe than the sweep file now gives are refused", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "novalab-sweep-stale-" });
  const file = await writeTinySweep(tmp, { seeds: [0] });
  const out = `${tmp}/out`;
  await runSweep(file, options(out));
  await Deno.writeTextFile(file, (await Deno.readTextFile(file)).replace("steps=3", "steps=4"));
  await assert.rejects(
    () => runSweep(file, options(out)),
    /1 member\(s\) ran with a different recipe .*: clip-s0\. Expected unchanged recipes/,
  );
  await Deno.remove(tmp, { recursive: true });
});

test("sweep: a damaged status.json is an error naming the file", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "novalab-sweep-status-" });
  await writeStatus(tmp, { state: "running", started: "2026-01-01T00:00:00Z" });
  assert.equal((await readStatus(tmp))?.state, "running");
  await Deno.writeTextFile(`${tmp}/status.json`, '{"state": "finished"}');
  await assert.rejects(
    () => readStatus(tmp),
    /status\.json: state "finished"; expected one of done, failed, running/,
  );
  await Deno.writeTextFile(`${tmp}/status.json`, '{"state": ');
  await assert.rejects(() => readStatus(tmp), /status\.json: not valid JSON/);
  await Deno.remove(tmp, { recursive: true });
});
