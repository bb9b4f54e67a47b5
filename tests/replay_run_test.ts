/**
 * A whole WebGPU run with step replay (the default) against the same run with
 * every step issued as written: diagnostics during training (inference on the
 * test split between replays), checkpoints every two steps, a stop after step
 * 4 and a resume in a new trainer that replays again, the final zero-shot
 * evaluation and the exported model. Per-step losses, the diagnostics logged
 * during training and the evaluation agree bit for bit. Fallback adapter in CI.
 */
import assert from "node:assert/strict";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { type RunOptions, runRecipe } from "../core/run.ts";
import { readMetrics } from "../core/rundir.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { mnistDirOverride } from "./offline_data.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/replay_run_test.ts skipped: ${skip}`);

const STEPS = 9;
const TINY = [
  "data.limit={ train: 256, test: 32 }",
  `train.steps=${STEPS}`,
  "train.batch=16",
  "train.log_every=1",
  "train.checkpoint_every=2",
  "train.schedule.warmup=2",
  "nodes.image.depth=1",
  "nodes.pred.layers=[32, 16]",
  "vars.dim=16",
  "losses[1].slices=32",
  "eval=[{ kind: zero_shot, image: pred, text: text, templates: ['the number {}.'] }, " +
  "{ kind: diagnostics, image: pred, text: text, every: 2, limit: 32, batch: 16, slices: 16 }]",
];

Deno.test({
  name: "replayed run (diagnostics, checkpoints, stop + resume) logs and evaluates as written",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const runs = await Deno.makeTempDir({ prefix: "novalab-replay-run-" });
    try {
      const recipe = await loadRunnable("recipes/nova.yaml", [...TINY, ...mnistDirOverride()]);
      const options: RunOptions = {
        runsDir: runs,
        backend: "webgpu",
        quiet: true,
        skipReport: true,
      };
      const written = await runRecipe(recipe, { ...options, replay: false });
      assert.equal(written.replay, null, "as written: no replay");

      // Steps 0–3: a warm-up step, two recordings, a replay; then a stop.
      const first = await runRecipe(recipe, { ...options, replay: true, stopAfter: 4 });
      assert.equal(first.steps, 4);
      assert.equal(first.finished, false);
      assert.equal(first.replay?.replays, 1, JSON.stringify(first.replay));
      const resumed = await runRecipe(recipe, {
        ...options,
        replay: true,
        resume: first.paths.root,
      });
      assert.equal(resumed.steps, STEPS);
      assert.ok(resumed.finished);
      // Resumed at 4 in a new trainer: warm-up, two recordings, two replays
      // (diagnostics and checkpoints read the parameters in between).
      assert.equal(resumed.replay?.mode, "replaying", resumed.replay?.reason ?? "");
      assert.equal(resumed.replay?.replays, 2, JSON.stringify(resumed.replay));
      // The diagnostics borrowed the step's temporaries and gave them back: no new recording.
      assert.equal(resumed.replay?.recordings, 2, JSON.stringify(resumed.replay));

      const a = await readMetrics(written.paths);
      const b = await readMetrics(resumed.paths);
      const losses = (m: typeof a) => m.filter((r) => r.loss !== undefined);
      const diagnostics = (m: typeof a) => m.filter((r) => r.diagnostics !== undefined);
      assert.deepEqual(losses(b).map((m) => m.step), [0, 1, 2, 3, 4, 5, 6, 7, 8]);
      assert.deepEqual(losses(b).map((m) => m.loss), losses(a).map((m) => m.loss));
      assert.deepEqual(losses(b).map((m) => m.terms), losses(a).map((m) => m.terms));
      assert.deepEqual(diagnostics(a).map((m) => m.step), [1, 3, 5, 7]);
      assert.deepEqual(diagnostics(b), diagnostics(a), "diagnostics logged during training");
      assert.ok(Object.keys(written.eval).length === 2, Object.keys(written.eval).join(", "));
      assert.deepEqual(resumed.eval, written.eval, "final evaluation");
    } finally {
      await Deno.remove(runs, { recursive: true });
    }
  },
});
