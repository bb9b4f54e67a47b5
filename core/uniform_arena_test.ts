/**
 * The per-submit uniform arena (`core/uniform_arena.ts`) on the WebGPU
 * fallback adapter: many dispatches with different uniforms in one submit —
 * more than one arena buffer holds — give the CPU's values, with one
 * `writeBuffer` per arena buffer instead of one per dispatch. (Every other
 * WebGPU test runs through the arena too: it is on by default.)
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { ARENA_BUFFER_BYTES, uniformArenaStats } from "./uniform_arena.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** Products and sums of many shapes (each dispatch with its own shape uniforms). */
function work(count: number): tf.Tensor[] {
  const out: tf.Tensor[] = [];
  for (let i = 1; i <= count; i++) {
    const a = tf.range(0, i * 3).reshape([i, 3]);
    const b = tf.range(0, 3 * (i % 5 + 1)).reshape([3, i % 5 + 1]);
    out.push(tf.sum(tf.relu(tf.sub(tf.matMul(a, b), i))));
  }
  return out;
}

Deno.test({
  name: "core/uniform_arena: one submit of hundreds of dispatches keeps every dispatch's uniforms",
  ...opts,
  async fn() {
    await tf.setBackend("cpu");
    const expected = await Promise.all(work(120).map(async (t) => (await t.data())[0]));
    await useNovalabWebGpu();
    const backend = tf.backend() as WebGPUBackend;
    const before = uniformArenaStats(backend);
    assert.ok(before, "the arena is installed on novalab's webgpu backend");
    const batch = tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE");
    tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", 100_000); // one submit for all of it
    try {
      const results = tf.tidy(() => work(120));
      const actual = await Promise.all(results.map(async (t) => (await t.data())[0]));
      tf.dispose(results);
      assert.deepEqual(actual, expected);
    } finally {
      tf.env().set("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE", batch);
    }
    const after = uniformArenaStats(backend)!;
    const slots = after.slots - before.slots, writes = after.writes - before.writes;
    assert.ok(slots > ARENA_BUFFER_BYTES / 256, `${slots} dispatches fill more than one buffer`);
    assert.ok(after.buffers >= 2, `${after.buffers} arena buffers`);
    assert.ok(writes < slots / 20, `${writes} writeBuffer calls for ${slots} dispatches`);
  },
});
