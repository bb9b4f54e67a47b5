import assert from "node:assert/strict";
import { rateWindow } from "./progress.ts";
import type { StepMetrics } from "./trainer.ts";

const step = (i: number, ms: number): StepMetrics => ({
  step: i,
  loss: 1,
  terms: {},
  lr: 1e-3,
  grad_norm: 1,
  images_per_s: (128 / ms) * 1000,
  ms,
  data_ms: 0,
});

Deno.test("progress: images/s over the last steps, not one step's own time", () => {
  const rate = rateWindow(4);
  for (let i = 0; i < 6; i++) rate(step(i, 100));
  // An overlapped last step whose report arrived right after its predecessor's.
  const shown = rate(step(6, 0.05));
  assert.ok(Math.abs(shown - (4 * 128) / 0.30005) < 1, `${shown} img/s`);
  assert.ok(shown < 2000, "not the 2.5 million img/s of the last step alone");
});
