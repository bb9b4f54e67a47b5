/**
 * In-place updates (`kernels/in_place.ts`): `assignInPlace` writes a variable's
 * own buffer on WebGPU (the variable keeps its data), leaves tensors that
 * shared the old buffer as they were, drops a stale CPU copy, and assigns as
 * usual elsewhere; `assertSoleOwner` names a shared buffer. Fallback adapter in CI.
 */
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import assert from "node:assert/strict";
import { assertSoleOwner, assignInPlace } from "./in_place.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/in_place_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

Deno.test("assignInPlace writes the variable's own buffer on WebGPU", opts, async () => {
  await useNovalabWebGpu();
  const v = tf.tidy(() => tf.variable(tf.tensor1d([1, 5, -3])));
  assert.deepEqual(Array.from(await v.data()), [1, 5, -3], "a read caches a CPU copy");
  const dataId = v.dataId;
  tf.tidy(() => assignInPlace(v, tf.clipByValue(v, 0, 2)));
  assert.equal(v.dataId, dataId, "same data, same buffer");
  assert.deepEqual(Array.from(await v.data()), [1, 2, 0], "and not the stale CPU copy");
  const shared = tf.clone(v);
  tf.tidy(() => assignInPlace(v, tf.add(v, 1)));
  assert.deepEqual(Array.from(await shared.data()), [1, 2, 0], "a clone keeps the old values");
  assert.deepEqual(Array.from(await v.data()), [2, 3, 1]);
  assert.throws(
    () => assertSoleOwner(tf.backend() as WebGPUBackend, tf.clone(v), "x", "test"),
    /x is updated in place, but shares its buffer with 1 other tensor\(s\)/,
  );
  tf.dispose([v, shared]);
});

Deno.test("assignInPlace assigns on the CPU backend", async () => {
  await tf.setBackend("cpu");
  const v = tf.variable(tf.tensor1d([4, -1]));
  tf.tidy(() => assignInPlace(v, tf.relu(v)));
  assert.deepEqual(Array.from(await v.data()), [4, 0]);
  v.dispose();
});
