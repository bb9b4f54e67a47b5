/** The run's notices: a warm-up cut to fit the steps is said, with a fix; none when it fits. */
import assert from "node:assert/strict";
import { atDataEntry, evaluatingNotice, markFailed, warmupText } from "./run_notices.ts";
import type { RunnableRecipe } from "./run.ts";

const train = (steps: number, warmup: number, kind: "constant" | "warmup_cosine") =>
  ({ steps, schedule: { kind, warmup, min_lr_ratio: 0.01 } }) as unknown as RunnableRecipe["train"];

Deno.test("warmupText: a warm-up of at least the steps is named with its cut and a fix", () => {
  assert.equal(
    warmupText(train(30, 100, "warmup_cosine")),
    "train.schedule.warmup 100 ≥ train.steps 30: the warm-up is cut to 29 steps, so the " +
      "learning rate peaks at the last step and never decays; set it below the steps " +
      "(e.g. --set train.schedule.warmup=3)",
  );
  assert.match(
    warmupText(train(5, 5, "constant"))!,
    /cut to 4 steps, so the learning rate peaks at the last step; set/,
  );
  assert.equal(warmupText(train(30, 29, "warmup_cosine")), undefined);
  assert.equal(warmupText(train(1, 100, "warmup_cosine")), undefined);
});

Deno.test("evaluatingNotice: names the command that evaluates the saved checkpoint", () => {
  assert.match(
    evaluatingNotice("runs/nova-1"),
    /checkpoint is saved: deno task eval runs\/nova-1\)$/,
  );
});

Deno.test("atDataEntry: a source error is prefixed with the recipe's data: line and kind", () => {
  const recipe = {
    data: { kind: "manifest", params: {} },
    graph: { locate: () => ({ file: "r.yaml", line: 4, column: 1 }) },
  } as unknown as RunnableRecipe;
  const cause = new RangeError('cannot read table "x.csv"');
  const e = atDataEntry(cause, recipe);
  assert.equal(e.message, 'r.yaml:4:1: data (manifest): cannot read table "x.csv"');
  assert.ok(e instanceof RangeError);
  assert.equal(e, cause);
});

Deno.test("markFailed: writes failure.json with the error, keeps one training wrote, rethrows", async () => {
  const dir = await Deno.makeTempDir({ prefix: "novalab-failed-" });
  try {
    const path = `${dir}/failure.json`;
    await assert.rejects(markFailed(path, new Error("disk full")), /disk full/);
    assert.equal(JSON.parse(await Deno.readTextFile(path)).error, "disk full");
    await Deno.writeTextFile(path, '{"step": 3}');
    await assert.rejects(markFailed(path, new Error("later")), /later/);
    assert.deepEqual(JSON.parse(await Deno.readTextFile(path)), { step: 3 });
  } finally {
    await Deno.remove(dir, { recursive: true });
  }
});
