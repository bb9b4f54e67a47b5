/**
 * `train.gradient_cache` is refused before any compute where it cannot work:
 * with one micro-batch, and where a loss reads a queue (file, line, key path,
 * what to do).
 */
import assert from "node:assert/strict";
import { loadRunnable } from "../recipe_runnable.ts";

Deno.test("gradient_cache needs train.accumulate > 1 and no queue among the loss inputs", async () => {
  await assert.rejects(
    loadRunnable("recipes/clip.yaml", ["train.gradient_cache=true"]),
    /train\.gradient_cache: gradient_cache joins the micro-batches of a step, but train\.accumulate is 1[\s\S]*expected train\.accumulate > 1/,
  );
  await assert.rejects(
    loadRunnable("recipes/clip_momentum_queue_groups.yaml", [
      "train.gradient_cache=true",
      "train.accumulate=2",
    ]),
    (e: Error) => {
      assert.match(
        e.message,
        /recipes\/clip_momentum_queue_groups\.yaml:\d+:\d+: losses\[0\]\.inputs\.image_queue: the loss reads "image_queue", a queue node/,
      );
      assert.match(e.message, /losses\[0\]\.inputs\.groups[^\n]*a group_queue node/);
      return true;
    },
  );
  const ok = await loadRunnable("recipes/clip.yaml", [
    "train.gradient_cache=true",
    "train.accumulate=4",
  ]);
  assert.equal(ok.train.gradient_cache, true);
});
