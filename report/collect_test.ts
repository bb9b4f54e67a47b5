import assert from "node:assert/strict";
import { join } from "node:path";
import { collectSweep, metricValue, readManifest } from "./collect.ts";
import { tempDir, writeLambdaSweep } from "./testing.ts";

Deno.test("collectSweep: every member's state, grouped by variant in sweep order", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeLambdaSweep(dir);
  const results = await collectSweep(dir);
  assert.equal(results.manifest.name, "nova_lambda");
  assert.deepEqual(results.variants.map((v) => v.variant), [
    "nova,lambda=0",
    "nova,lambda=0.1",
    "clip,lambda=0",
    "clip,lambda=0.1",
  ]);
  assert.deepEqual(results.variants.map((v) => v.members.map((m) => m.state)), [
    ["done", "done", "done"],
    ["done", "done", "failed"],
    ["done", "done", "not run"],
    ["running", "unreadable", "done"],
  ]);
  const failed = results.variants[1]!.members[2]!;
  assert.match(failed.error!, /^NaN loss at step 7/);
  const unreadable = results.variants[3]!.members[1]!;
  assert.match(unreadable.error!, /clip,lambda=0\.1-s1\/status\.json: not valid JSON/);
  assert.equal(results.warnings.length, 1);
  assert.match(results.warnings[0]!, /^clip,lambda=0\.1-s1: status unreadable/);
  assert.deepEqual(results.variants[0]!.grid, { "vars.lambda": 0 });
});

Deno.test("collectSweep: a status.json of the wrong shape marks the member unreadable", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  await writeLambdaSweep(dir);
  const path = join(dir, "members", "nova,lambda=0-s0", "status.json");
  await Deno.writeTextFile(path, JSON.stringify({ state: "finished", wall_s: "long" }));
  const results = await collectSweep(dir);
  const member = results.members[0]!;
  assert.equal(member.state, "unreadable");
  assert.match(member.error!, /status\.json: state: .*; wall_s: /);
});

Deno.test("readManifest: missing or corrupt sweep.json is an error naming the file", async () => {
  await using tmp = await tempDir();
  const dir = tmp.path;
  const path = join(dir, "sweep.json");
  await assert.rejects(readManifest(dir), (e: Error) => {
    assert.match(e.message, new RegExp(`^${path}: not found; expected the manifest`));
    return true;
  });
  await Deno.writeTextFile(path, '{"name": "x",');
  await assert.rejects(collectSweep(dir), (e: Error) => {
    assert.ok(e.message.startsWith(`${path}: not valid JSON (`), e.message);
    return true;
  });
  await writeLambdaSweep(dir);
  const manifest = JSON.parse(await Deno.readTextFile(path));
  manifest.members[3].seed = "one";
  await Deno.writeTextFile(path, JSON.stringify(manifest));
  await assert.rejects(readManifest(dir), (e: Error) => {
    assert.match(e.message, /sweep\.json: not a sweep manifest: members\[3\]\.seed: .*number/);
    return true;
  });
  manifest.members[3].seed = 0;
  manifest.members[3].id = "../escape";
  await Deno.writeTextFile(path, JSON.stringify(manifest));
  await assert.rejects(readManifest(dir), /members\[3\]\.id: expected characters/);
  manifest.members[3].id = manifest.members[0].id;
  await Deno.writeTextFile(path, JSON.stringify(manifest));
  await assert.rejects(readManifest(dir), /member id 'nova,lambda=0-s0' appears twice/);
});

Deno.test("metricValue: <evaluator>.<metric>, evaluator names with dots, only finite numbers", () => {
  const results = {
    zero_shot: { top1: 0.5, "acc/a.b": 0.25, bad: Number.NaN, text: "x" as unknown },
    "probe.linear": { top1: 0.75 },
  };
  assert.equal(metricValue(results, "zero_shot.top1"), 0.5);
  assert.equal(metricValue(results, "zero_shot.acc/a.b"), 0.25);
  assert.equal(metricValue(results, "probe.linear.top1"), 0.75);
  assert.equal(metricValue(results, "zero_shot.bad"), undefined);
  assert.equal(metricValue(results, "zero_shot.text"), undefined);
  assert.equal(metricValue(results, "zero_shot.toString"), undefined);
  assert.equal(metricValue(undefined, "zero_shot.top1"), undefined);
});
