/**
 * Killing a sweep mid-way and rerunning it completes only the missing members:
 * finished members are not rerun (their status.json and metrics.jsonl stay
 * byte for byte), the member stopped mid-training resumes from its checkpoint,
 * the never-started one runs. The stop is in-process (an AbortSignal, which
 * the trainer handles like Ctrl-C: finish the step, checkpoint, stop) — the
 * test task may not spawn `deno`; a hard kill leaves the same state behind
 * (status `running`, the latest checkpoint), which is what the rerun reads.
 */
import assert from "node:assert/strict";
import { latestCheckpoint } from "../core/checkpoint_load.ts";
import { runPaths } from "../core/rundir.ts";
import { runSweep } from "../sweep/run.ts";
import { memberDir, readStatus } from "../sweep/status.ts";
import { writeTinySweep } from "../sweep/testing.ts";

async function snapshot(dir: string, id: string): Promise<{ status: string; metrics: string }> {
  const root = memberDir(dir, id);
  return {
    status: await Deno.readTextFile(`${root}/status.json`),
    metrics: await Deno.readTextFile(runPaths(root).metrics),
  };
}

Deno.test({
  name: "sweep: killed mid-way and rerun, it completes only the missing members",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "novalab-sweep-resume-" });
    const file = await writeTinySweep(tmp, { grid: ["vars.dim: [8, 16]"] });
    const out = `${tmp}/out`;
    const lines: string[] = [];
    const base = { out, backend: "wasm" as const, quiet: true, log: (l: string) => lines.push(l) };

    // First invocation: stop while member 2 trains (it completes one step and checkpoints).
    const stop = new AbortController();
    const first = await runSweep(file, {
      ...base,
      signal: stop.signal,
      onMemberStart: (m) => m.index === 2 && stop.abort(),
    });
    const ids = first.manifest.members.map((m) => m.id);
    assert.deepEqual(ids, ["clip,dim=8-s0", "clip,dim=8-s1", "clip,dim=16-s0", "clip,dim=16-s1"]);
    assert.equal(first.interrupted, true);
    assert.deepEqual(first.outcomes.map((o) => [o.action, o.status.state]), [
      ["ran", "done"],
      ["ran", "done"],
      ["ran", "running"],
    ]);
    const killed = (await readStatus(memberDir(out, ids[2]!)))!;
    assert.equal(killed.state, "running");
    assert.equal((await latestCheckpoint(runPaths(memberDir(out, ids[2]!)).checkpoints))?.step, 1);
    assert.equal(await readStatus(memberDir(out, ids[3]!)), undefined, "member 3 never started");
    assert.match(
      lines.join("\n"),
      /\[3\/4\] +clip,dim=16-s0 +stopped at step 1 \(rerun to resume\)/,
    );
    const finished = [await snapshot(out, ids[0]!), await snapshot(out, ids[1]!)];
    const partial = await Deno.readTextFile(runPaths(memberDir(out, ids[2]!)).metrics);

    // Rerun: the two finished members are skipped, member 2 resumes, member 3 runs.
    const second = await runSweep(file, base);
    assert.equal(second.interrupted, false);
    assert.deepEqual(second.failed, []);
    assert.deepEqual(second.outcomes.map((o) => [o.member.id, o.action, o.status.state]), [
      [ids[0], "skipped", "done"],
      [ids[1], "skipped", "done"],
      [ids[2], "resumed", "done"],
      [ids[3], "ran", "done"],
    ]);
    assert.deepEqual(
      [await snapshot(out, ids[0]!), await snapshot(out, ids[1]!)],
      finished,
      "finished members untouched (status.json started, metrics.jsonl)",
    );
    const resumed = (await readStatus(memberDir(out, ids[2]!)))!;
    assert.equal(resumed.resumed_from, 1);
    assert.equal(resumed.steps, 3);
    assert.equal(typeof resumed.eval?.zero_shot?.top1, "number");
    const metrics = await Deno.readTextFile(runPaths(memberDir(out, ids[2]!)).metrics);
    assert.ok(metrics.startsWith(partial), "the step before the kill is kept, not retrained");
    assert.deepEqual(metrics.trim().split("\n").map((l) => JSON.parse(l).step), [0, 1, 2]);

    // Memory: members run in one process; the tensor count does not grow from member to member.
    const counts = second.outcomes.filter((o) => o.action !== "skipped").map((o) => o.tensors);
    assert.equal(counts[1], counts[0], `tensor counts after members: ${counts}`);
    assert.equal(first.outcomes[1]!.tensors, first.outcomes[0]!.tensors);
    assert.ok(!lines.some((l) => l.startsWith("warning:")), "the runner saw no leak either");

    // A third invocation has nothing left to do.
    const third = await runSweep(file, base);
    assert.ok(third.outcomes.every((o) => o.action === "skipped"));
    assert.match(lines.at(-1)!, /sweep tiny: 4 done, 0 failed$/);
    await Deno.remove(tmp, { recursive: true });
  },
});

Deno.test({
  name: "sweep: a member whose latest.json is unreadable fails alone; the others still run",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const tmp = await Deno.makeTempDir({ prefix: "novalab-sweep-latest-" });
    const file = await writeTinySweep(tmp);
    const out = `${tmp}/out`;
    const base = { out, backend: "wasm" as const, quiet: true, log: () => {} };
    const stop = new AbortController();
    const first = await runSweep(file, {
      ...base,
      signal: stop.signal,
      onMemberStart: (m) => m.index === 0 && stop.abort(),
    });
    const ids = first.manifest.members.map((m) => m.id);
    await Deno.writeTextFile(`${runPaths(memberDir(out, ids[0]!)).checkpoints}/latest.json`, "{");
    // It stopped the whole sweep before member 1 could run.
    const second = await runSweep(file, base);
    assert.deepEqual(second.outcomes.map((o) => [o.member.id, o.status.state]), [
      [ids[0], "failed"],
      [ids[1], "done"],
    ]);
    assert.match(second.outcomes[0]!.status.error!, /latest\.json is unreadable/);
    assert.deepEqual(second.failed, [ids[0]]);
    await Deno.remove(tmp, { recursive: true });
  },
});
