/**
 * Continuing a sweep whose members all finished, in a module where no tfjs
 * backend was ever initialised (its own test module, so a fresh runtime):
 * every member is skipped and nothing touches tfjs. It used to fail with
 * "The highest priority backend 'webgpu' has not yet been initialized".
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { runSweep } from "./run.ts";
import { prepareSweep } from "./prepare.ts";
import { memberDir, writeStatus } from "./status.ts";
import { writeTinySweep } from "./testing.ts";

Deno.test("sweep: continuing a finished sweep skips every member without starting a backend", async () => {
  const tmp = await Deno.makeTempDir({ prefix: "novalab-sweep-finished-" });
  try {
    const file = await writeTinySweep(tmp, { seeds: [0, 1] });
    const out = `${tmp}/out`;
    const { members } = await prepareSweep(file);
    for (const m of members) {
      await writeStatus(memberDir(out, m.id), {
        state: "done",
        started: "2026-11-23T07:00:00.000Z",
        finished: "2026-11-23T07:01:00.000Z",
        wall_s: 60,
        steps: 3,
      });
    }
    assert.equal(tf.getBackend(), undefined, "no backend before the sweep");
    const lines: string[] = [];
    const result = await runSweep(file, { out, log: (line) => lines.push(line) });
    assert.deepEqual(result.outcomes.map((o) => o.action), ["skipped", "skipped"]);
    assert.deepEqual(result.failed, []);
    assert.match(lines.at(-1)!, /: 2 done, 0 failed$/);
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
});
