/**
 * SIGReg's random directions drawn on the GPU (`kernels/random_directions.ts`)
 * against the same Philox stream drawn in JavaScript
 * (`losses/random_directions.ts` `directionValues`): odd dimensions (rows in
 * a last, partial group of four), one direction, more directions than a
 * workgroup, negative and 53-bit seeds; one dispatch per draw; unit columns.
 * Runs on any adapter, including Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { directionValues, randomDirections } from "../losses/random_directions.ts";
import { assertClose, useNovalabWebGpu, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/random_directions_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "kernels/random_directions: the GPU draws the JavaScript stream, one dispatch",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const cases: [number, number, number][] = [
      [1, 1, 0],
      [3, 5, 42],
      [5, 7, -1],
      [17, 130, 2 ** 40 + 3],
      [64, 256, Number.MAX_SAFE_INTEGER],
    ];
    for (const [dim, slices, seed] of cases) {
      counter.reset();
      const onGpu = randomDirections(dim, slices, seed);
      assert.deepEqual(onGpu.shape, [dim, slices]);
      const gpu = (await onGpu.data()) as Float32Array;
      onGpu.dispose();
      assert.equal(counter.read().byProgram["NovalabRandomDirectionsProgram"], 1);
      const js = directionValues(dim, slices, seed);
      // f32 log/cos/sin and an f32 norm on the GPU, float64 in JavaScript.
      assertClose(gpu, js, `[${dim}, ${slices}] seed ${seed}`, { atol: 2e-5, rtol: 1e-4 });
      for (let m = 0; m < slices; m++) {
        let sq = 0;
        for (let k = 0; k < dim; k++) sq += gpu[k * slices + m]! ** 2;
        assert.ok(Math.abs(sq - 1) < 1e-5, `column ${m} has squared norm ${sq}`);
      }
    }
    // Different seeds, different directions; the same seed, the same ones.
    const [a, b, again] = [7, 8, 7].map((s) => randomDirections(16, 32, s));
    const [va, vb, vAgain] = await Promise.all([a, b, again].map((t) => t!.data()));
    assert.deepEqual(vAgain, va);
    assert.ok(va.some((v, i) => v !== vb[i]), "seeds 7 and 8 drew the same directions");
    tf.dispose([a!, b!, again!]);
  },
});

Deno.test("random directions: bad sizes and seeds are named before anything runs", () => {
  assert.throws(() => randomDirections(0, 4, 1), /dim must be a positive integer, got 0/);
  assert.throws(() => randomDirections(4, 2.5, 1), /slices must be a positive integer, got 2.5/);
  assert.throws(() => randomDirections(4, 4, 0.5), /seed must be a safe integer, got 0.5/);
});

Deno.test("directionValues: Gaussian columns — a direction's entries spread as 1/√K", () => {
  const dim = 256, slices = 512;
  const d = directionValues(dim, slices, 3);
  // Each entry of a uniform unit vector has mean 0 and variance 1/K.
  let mean = 0, variance = 0;
  for (const v of d) {
    mean += v / d.length;
    variance += v * v / d.length;
  }
  assert.ok(Math.abs(mean) < 3 / Math.sqrt(d.length) / Math.sqrt(dim), `mean ${mean}`);
  assert.ok(Math.abs(variance * dim - 1) < 1e-9, `K·E[a²] = ${variance * dim}`);
  // Distinct columns are close to orthogonal: |cos| ~ 1/√K.
  let worst = 0;
  for (let m = 1; m < 64; m++) {
    let dot = 0;
    for (let k = 0; k < dim; k++) dot += d[k * slices]! * d[k * slices + m]!;
    worst = Math.max(worst, Math.abs(dot));
  }
  assert.ok(worst < 5 / Math.sqrt(dim), `largest |cos| between column 0 and others: ${worst}`);
});
