/**
 * Stochastic depth (`models/drop_path.ts`): timm's linear rates, factors of
 * 0 or `1/(1 − p)` kept with probability `1 − p` (mean 1), drawn per block,
 * branch and input; a ViT's evaluation and a momentum teacher's forward run
 * every branch and patch.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { dropPathRates, dropPathScales } from "./drop_path.ts";
import { VisionTransformer } from "./vit.ts";
import { MomentumTeacher } from "../core/momentum_teacher.ts";
import type { VitConfig } from "./vit_presets.ts";

Deno.test("drop path rates rise linearly from 0 to the rate over the depth (timm's linspace)", () => {
  const rates = dropPathRates(0.1, 12);
  assert.equal(rates.length, 12);
  assert.equal(rates[0], 0);
  assert.ok(Math.abs(rates[11]! - 0.1) < 1e-15);
  assert.ok(Math.abs(rates[6]! - 0.1 * 6 / 11) < 1e-15);
  assert.deepEqual(dropPathRates(0.3, 1), [0], "linspace(0, r, 1) is [0]");
  assert.throws(() => dropPathRates(1, 4), /rate must be in \[0, 1\), got 1/);
});

Deno.test("drop path factors: 0 or 1/(1 − p), kept with probability 1 − p, drawn per block, branch and input", () => {
  const rows = 20000, p = 0.3;
  const scales = dropPathScales(rows, p, 5, 2, 0);
  let kept = 0;
  for (const s of scales) {
    assert.ok(s === 0 || s === Math.fround(1 / 0.7), `${s}`);
    if (s > 0) kept++;
  }
  const sigma = Math.sqrt(rows * p * (1 - p));
  assert.ok(Math.abs(kept - rows * 0.7) < 5 * sigma, `${kept} of ${rows} kept`);
  assert.deepEqual(dropPathScales(rows, p, 5, 2, 0), scales, "a pure function of the seed");
  for (
    const other of [
      dropPathScales(rows, p, 6, 2, 0),
      dropPathScales(rows, p, 5, 3, 0),
      dropPathScales(rows, p, 5, 2, 1),
      dropPathScales(rows, p, 5, 2, 0, 1),
    ]
  ) {
    let same = 0;
    for (let i = 0; i < rows; i++) if ((other[i]! > 0) === (scales[i]! > 0)) same++;
    // Independent draws agree on p² + (1 − p)² = 58 % of the rows.
    assert.ok(Math.abs(same / rows - 0.58) < 0.02, `${same / rows}`);
  }
});

const CONFIG: VitConfig = {
  patch: 4,
  dim: 16,
  depth: 3,
  heads: 2,
  mlpRatio: 2,
  registers: 1,
  patchDropout: 0.5,
  dropPath: 0.5,
};
const GEOMETRY = { height: 8, width: 8, channels: 1 };

Deno.test("a ViT with patch dropout and drop path: noise in training only, none for its momentum teacher", async () => {
  await tf.setBackend("cpu");
  tf.tidy(() => {
    const vit = new VisionTransformer(CONFIG, GEOMETRY, { name: "v", seed: 3 });
    const images = tf.randomUniform([6, 8, 8, 1], 0, 1, "float32", 5);
    const at = (training: boolean, seed: number) =>
      vit.forward([images], { training, step: 0, seed }) as tf.Tensor;
    const clean = at(false, 0);
    const [a, b] = [at(true, 1), at(true, 2)];
    assert.ok(tf.max(tf.abs(tf.sub(a, clean))).dataSync()[0]! > 1e-3, "training is noisy");
    assert.ok(tf.max(tf.abs(tf.sub(a, b))).dataSync()[0]! > 1e-3, "each step draws afresh");
    assert.deepEqual(at(true, 1).dataSync(), a.dataSync(), "a step's draws are its seed's");
    assert.deepEqual(at(false, 7).dataSync(), clean.dataSync(), "evaluation has none");
    const teacher = new MomentumTeacher(vit, { of: "v", decay: 0.99 });
    const taught = teacher.forward([images], { training: true, step: 0, seed: 1 }) as tf.Tensor;
    assert.deepEqual(
      taught.dataSync(),
      clean.dataSync(),
      "the teacher sees every patch and branch",
    );
    vit.dispose();
  });
});
