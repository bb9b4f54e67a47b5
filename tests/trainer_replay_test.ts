/**
 * The trainer replaying its device step (`core/device_step.ts`,
 * `core/replayable_step.ts`) trains NOVA exactly as it does running every step
 * as written: MNIST views with random crops, a ViT, BatchNorm MLPs, the frozen
 * GloVe tower on each batch's captions, SIGReg's random directions, a warm-up
 * schedule, the fused AdamW — each step's seeds, captions and learning rate
 * reach the replay. Losses, parameters, running statistics and optimiser
 * state agree bit for bit, read between replays (as a checkpoint does) and at
 * the end. Fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe } from "../core/run.ts";
import { Trainer } from "../core/trainer.ts";
import { installNovalabKernels } from "../kernels/install.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";
import { mnistDirOverride, seedTextCache } from "./offline_data.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`tests/trainer_replay_test.ts skipped: ${skip}`);

const STEPS = 7;
const TINY = [
  "data.limit={ train: 256, test: 32 }",
  `train.steps=${STEPS}`,
  "train.batch=16",
  "train.schedule={ kind: warmup_cosine, warmup: 3 }",
  "nodes.image.depth=1",
  "nodes.pred.layers=[32, 16]",
  "vars.dim=16",
  "losses[1].slices=32",
];

/** CLIP, small: InfoNCE, a learnt temperature clamped after every step (in place). */
const CLIP_TINY = [
  "data.limit={ train: 256, test: 32 }",
  `train.steps=${STEPS}`,
  "train.batch=16",
];

/** Trains a tiny recipe; returns per-step losses, everything it learnt, and the replay stats. */
async function train(replay: boolean, cacheDir: string, path: string, set: string[]) {
  await initBackend("webgpu");
  installNovalabKernels();
  const recipe = await loadRunnable(path, [...set, ...mnistDirOverride()]);
  const { graph, source } = await buildRecipe(recipe, cacheDir);
  const trainer = new Trainer(graph, source, { config: recipe.train, seed: recipe.seed, replay });
  /** Everything the run has learnt: parameters, running statistics, optimiser state. */
  const snapshot = async () => {
    const out = new Map<string, number[]>();
    for (const p of graph.state()) out.set(p.name, Array.from(await p.variable.data()));
    const optimizer = trainer.optimizer.state();
    for (const [name, t] of optimizer) out.set(name, Array.from(await t.data()));
    tf.dispose([...optimizer.values()]);
    return out;
  };
  const losses: number[] = [];
  let midway = new Map<string, number[]>();
  for (let step = 0; step < STEPS; step++) {
    losses.push((await trainer.step(step)).loss);
    // As a checkpoint does, between replays (reads cache values on the CPU).
    if (step === 4) midway = await snapshot();
  }
  const stats = trainer.replayStats;
  const learnt = await snapshot();
  for (const [name, v] of midway) learnt.set(`midway ${name}`, v);
  await trainer.close();
  trainer.optimizer.dispose();
  graph.dispose();
  source.dispose();
  return { losses, learnt, stats };
}

/** Trains `path` as written and replayed, and asserts both learnt the same, bit for bit. */
async function assertReplayedAsWritten(path: string, set: string[]): Promise<void> {
  const cacheDir = await Deno.makeTempDir({ prefix: "novalab-replay-" });
  try {
    await seedTextCache(cacheDir);
    const eager = await train(false, cacheDir, path, set);
    const replayed = await train(true, cacheDir, path, set);
    assert.equal(replayed.stats?.mode, "replaying", `reason: ${replayed.stats?.reason}`);
    assert.equal(replayed.stats?.replays, STEPS - 3, "1 step as written, 2 recorded, replays");
    assert.deepEqual(replayed.losses, eager.losses);
    assert.equal(replayed.learnt.size, eager.learnt.size);
    for (const [name, want] of eager.learnt) {
      assert.deepEqual(replayed.learnt.get(name), want, name);
    }
  } finally {
    await Deno.remove(cacheDir, { recursive: true });
  }
}

const webgpu = { ignore: skip !== null, sanitizeResources: false, sanitizeOps: false };

Deno.test(
  "trainer: NOVA's replayed steps train exactly as the steps run as written",
  webgpu,
  () => assertReplayedAsWritten("recipes/nova.yaml", TINY),
);

Deno.test(
  "trainer: CLIP's replayed steps (clamped temperature) train exactly as written",
  webgpu,
  () => assertReplayedAsWritten("recipes/clip.yaml", CLIP_TINY),
);

/**
 * NOVA with photometric augmentations on its views (SimCLR/BYOL-style ranges; MNIST is grey, so
 * brightness, contrast, blur and solarisation act — the RGB ones: data/augment_replay_test.ts).
 */
const AUGMENTED = [
  ...TINY,
  "nodes.views.jitter={ p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.2, hue: 0.1 }",
  "nodes.views.grayscale=0.2",
  "nodes.views.blur={ p: 0.5, sigma: [0.1, 2] }",
  "nodes.views.solarize={ p: 0.2, threshold: 0.5 }",
];

Deno.test(
  "trainer: NOVA with jitter, blur and solarisation on its views replays exactly as written",
  webgpu,
  () => assertReplayedAsWritten("recipes/nova.yaml", AUGMENTED),
);

Deno.test(
  "trainer: NOVA with two micro-batches per step and gradient clipping replays exactly as written",
  webgpu,
  () =>
    assertReplayedAsWritten("recipes/nova.yaml", [
      ...TINY,
      "train.batch=8",
      "train.accumulate=2",
      "train.clip_grad_norm=0.5",
    ]),
);
