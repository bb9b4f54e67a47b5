/**
 * The `views` module with every photometric augmentation on RGB images, on
 * WebGPU: the same values as on tfjs's CPU backend, and a step made of it
 * replays (`core/replayable_step.ts`) — each replay draws its own step's crop
 * boxes, colour factors, hue rotations, blur taps and solarisation flags from
 * its seed, bit for bit as the step run as written. Fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { ReplayableStep } from "../core/replayable_step.ts";
import { deriveSeed } from "../core/rng.ts";
import { assertClose, useNovalabWebGpu, valuesOn, webgpuSkipReason } from "../kernels/testing.ts";
import { ViewAugment, type ViewsConfig } from "./views.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`data/augment_replay_test.ts skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const CONFIG: ViewsConfig = {
  count: 2,
  size: 12,
  scale: [0.3, 1],
  ratio: [0.75, 4 / 3],
  flip: 0.5,
  jitter: { p: 0.8, brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 },
  grayscale: 0.2,
  blur: { p: 0.5, sigma: [0.1, 2] },
  solarize: { p: 0.3, threshold: 0.5 },
};

const images = (seed: number) =>
  tf.randomUniform([5, 17, 15, 3], 0, 1, "float32", seed) as tf.Tensor4D;

Deno.test({
  name: "augment: RGB views with every augmentation agree on WebGPU and the CPU backend",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const views = new ViewAugment(CONFIG, "v");
    const run = () => views.forward([images(1)], { training: true, step: 0, seed: 9 }) as tf.Tensor;
    const [want] = await valuesOn("cpu", run);
    const [got] = await valuesOn("webgpu", run);
    assertClose(got!, want!, "views", { atol: 2e-5, rtol: 1e-4 });
  },
});

Deno.test({
  name: "augment: a step of RGB views with every augmentation replays exactly as written",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const views = new ViewAugment(CONFIG, "v");
    let seed = 0;
    const fn = ([x]: tf.Tensor[]) =>
      tf.tidy(() => [views.forward([x!], { training: true, step: 0, seed }) as tf.Tensor]);
    const step = new ReplayableStep(fn);
    for (let i = 0; i < 7; i++) {
      seed = deriveSeed(5, "step", i);
      const x = images(10 + i);
      const [replayed] = step.run([x], { seeds: [seed] });
      const [written] = fn([x]);
      const [a, b] = await Promise.all([replayed!.data(), written!.data()]);
      assert.deepEqual(a, b, `step ${i}: replayed views differ from the views as written`);
      tf.dispose([x, replayed!, written!]);
    }
    assert.equal(step.stats.mode, "replaying", `reason: ${step.stats.reason}`);
    assert.equal(step.stats.replays, 4);
    step.dispose();
  },
});
