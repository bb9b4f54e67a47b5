/**
 * ALBEF's queues (recipes/clip_momentum_queue.yaml: `queue` nodes of the
 * momentum teachers' features, `clip`'s `image_queue`/`text_queue`) through
 * short runs: each applied update writes the batch's rows after the last
 * ones, wrapping around; slots not reached yet keep their seeded start; a
 * stopped and resumed run ends as the uninterrupted one; the export leaves
 * the queues out; under `train.accumulate` every micro-batch's rows are
 * written; a `group_queue` (recipes/clip_momentum_queue_groups.yaml) writes
 * the labels where the queues write the rows; on WebGPU the replayed step
 * writes what the step issued as written does.
 */
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { buildRecipe, type RunOptions, runRecipe } from "../core/run.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { seedTextCache } from "./offline_data.ts";
import { checkpointTensors, replayedCheckpoints, tinyRecipe } from "./tiny_runs.ts";

/** Batches of 16 (one view): a queue of 40 rows takes 16 a step and wraps in the third. */
const TINY = ["vars.dim=16", "vars.momentum=0.6", "vars.queue=40"];
const QUEUES = ["image_queue.queue", "text_queue.queue"];

function queued(overrides: string[], recipe = "recipes/clip_momentum_queue.yaml") {
  return tinyRecipe(recipe, [...TINY, ...overrides]);
}

/** The tiny recipe with a group queue of the labels beside the feature queues. */
const grouped = (overrides: string[]) =>
  queued(overrides, "recipes/clip_momentum_queue_groups.yaml");

/** Rows `from` … `to − 1` of a `[K, 16]` queue. */
const rows = (q: Float32Array, from: number, to: number) => q.slice(from * 16, to * 16);

Deno.test({
  name: "queues: each update's rows after the last, wrapping; resumed exactly; not exported",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-queue-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    const recipe = await queued(["train.steps=3", "train.checkpoint_every=1"]);
    const built = await buildRecipe(recipe, `${dir}/cache`);
    const start = new Map(
      built.graph.buffers().filter((p) => QUEUES.includes(p.name))
        .map((p) => [p.name, p.variable.dataSync() as Float32Array]),
    );
    built.graph.dispose();
    built.source.dispose();
    assert.equal(start.size, 2);
    const options: RunOptions = { runsDir: dir, cacheDir: `${dir}/cache`, quiet: true };
    const whole = await runRecipe(recipe, { ...options, skipEval: true, skipReport: true });
    const at = (step: number, run = whole) =>
      checkpointTensors(
        `${run.paths.checkpoints}/step-${String(step).padStart(6, "0")}.safetensors`,
      );
    const [one, two, three] = [await at(1), await at(2), await at(3)];
    for (const name of QUEUES) {
      const s = start.get(name)!, q1 = one.get(name)!, q2 = two.get(name)!, q3 = three.get(name)!;
      assert.equal(q1.length, 40 * 16);
      assert.ok(q1.every(Number.isFinite) && q3.every(Number.isFinite), `${name} finite`);
      // Step 1 writes slots 0–15, step 2 slots 16–31; the rest keeps the seeded start.
      assert.notDeepEqual(rows(q1, 0, 16), rows(s, 0, 16), `${name}: step 1 wrote slots 0–15`);
      assert.deepEqual(rows(q1, 16, 40), rows(s, 16, 40), `${name}: slots 16–39 untouched`);
      assert.deepEqual(rows(q2, 0, 16), rows(q1, 0, 16), `${name}: step 2 keeps step 1's rows`);
      assert.notDeepEqual(rows(q2, 16, 32), rows(s, 16, 32), `${name}: step 2 wrote slots 16–31`);
      assert.deepEqual(rows(q2, 32, 40), rows(s, 32, 40), `${name}: slots 32–39 untouched`);
      // Step 3 writes slots 32–39, then wraps to 0–7; slots 8–31 keep steps 1 and 2.
      assert.notDeepEqual(rows(q3, 32, 40), rows(s, 32, 40), `${name}: step 3 wrote 32–39`);
      assert.notDeepEqual(rows(q3, 0, 8), rows(q2, 0, 8), `${name}: step 3 wrapped to 0–7`);
      assert.deepEqual(rows(q3, 8, 32), rows(q2, 8, 32), `${name}: slots 8–31 kept`);
    }
    const exported = await checkpointTensors(`${whole.paths.checkpoints}/model.safetensors`);
    assert.ok(![...exported.keys()].some((k) => k.includes("queue")), "the queues are train-only");

    // train.ema averages the model, not the queues.
    const averaged = await runRecipe(await queued(["train.steps=1", "train.ema={ decay: 0.5 }"]), {
      ...options,
      skipEval: true,
      skipReport: true,
    });
    const withEma = await at(1, averaged);
    assert.ok(withEma.has("ema.image_proj.layers.0.weight"), "the weights are averaged");
    assert.ok(![...withEma.keys()].some((k) => k.startsWith("ema.") && k.includes("queue")));

    const first = await runRecipe(recipe, { ...options, stopAfter: 2, skipEval: true });
    const resumed = await runRecipe(recipe, {
      ...options,
      resume: first.paths.root,
      skipEval: true,
    });
    const after = await at(3, resumed);
    for (const name of [...QUEUES, "image.norm.weight", "image_proj_teacher.layers.0.weight"]) {
      assert.deepEqual(after.get(name), three.get(name), `${name} resumed`);
    }
    await Deno.remove(dir, { recursive: true });
  },
});

Deno.test({
  name: "queues under train.accumulate: every micro-batch's rows; group ids in the same slots",
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    const dir = await Deno.makeTempDir({ prefix: "novalab-queue-groups-" });
    await seedTextCache(`${dir}/cache`);
    await initBackend("wasm");
    // Two micro-batches of 16: 32 rows a step into 40 slots.
    const recipe = await grouped([
      "train.steps=2",
      "train.checkpoint_every=1",
      "train.accumulate=2",
    ]);
    const built = await buildRecipe(recipe, `${dir}/cache`);
    const start = built.graph.buffers().find((p) => p.name === "image_queue.queue")!.variable
      .dataSync() as Float32Array;
    built.graph.dispose();
    built.source.dispose();
    const run = await runRecipe(recipe, {
      runsDir: dir,
      cacheDir: `${dir}/cache`,
      quiet: true,
      skipEval: true,
      skipReport: true,
    });
    const at = (step: number) =>
      checkpointTensors(`${run.paths.checkpoints}/step-00000${step}.safetensors`);
    const [one, two] = [await at(1), await at(2)];
    const ids1 = [...one.get("group_queue.queue")!], ids2 = [...two.get("group_queue.queue")!];
    const label = (id: number) => Number.isInteger(id) && id >= 0 && id <= 9;
    // Update 1 writes slots 0–31 (both micro-batches), update 2 slots 32–39 and 0–23.
    assert.ok(ids1.slice(0, 32).every(label), `step 1 labels in 0–31: ${ids1}`);
    assert.deepEqual(ids1.slice(32), Array(8).fill(-1), "slots 32–39 not written yet");
    const image1 = one.get("image_queue.queue")!, image2 = two.get("image_queue.queue")!;
    assert.deepEqual(rows(image1, 32, 40), rows(start, 32, 40));
    assert.notDeepEqual(rows(image1, 16, 32), rows(start, 16, 32), "the second micro-batch's");
    assert.ok(ids2.every(label), "step 2 filled the rest");
    assert.deepEqual(ids2.slice(24, 32), ids1.slice(24, 32), "slots 24–31 keep update 1's");
    assert.deepEqual(rows(image2, 24, 32), rows(image1, 24, 32));
    assert.notDeepEqual(rows(image2, 32, 40), rows(start, 32, 40));
    await Deno.remove(dir, { recursive: true });
  },
});

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/feature_queue_run_test.ts WebGPU case skipped: ${skip}`);

Deno.test({
  name: "queues: on WebGPU the replayed step writes what the step issued as written does",
  ignore: skip !== null,
  sanitizeResources: false,
  sanitizeOps: false,
  async fn() {
    // Six steps over 40 slots: the slots a host value computes wrap during the replays. The
    // group queue's recipe: the feature queues, and the label ids beside them.
    const recipe = await grouped(["train.steps=6", "train.checkpoint_every=0"]);
    const { written, replayed } = await replayedCheckpoints(recipe, 6);
    const names = [...QUEUES, "group_queue.queue", "image_proj.layers.0.weight"];
    for (const name of [...names, "text_proj_teacher.layers.0.weight"]) {
      assert.ok(written.has(name), name);
      assert.deepEqual(replayed.get(name), written.get(name), `${name}: replayed = written`);
    }
  },
});
