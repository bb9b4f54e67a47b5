import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { requestWebGpuAdapter } from "./webgpu_device.ts";
import { initBackend } from "./backend.ts";
import { bufferOf } from "./step_replay.ts";

const adapter = await requestWebGpuAdapter();

/** The values of `t`, and `t` disposed. */
async function valuesOf(t: tf.Tensor): Promise<number[]> {
  const out = Array.from(await t.data());
  t.dispose();
  return out;
}

Deno.test({
  name: "core/eager_release: a buffer freed before its readers ran is reused within the submit, " +
    "and the readers still see the old contents",
  ignore: adapter === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend("webgpu");
    const backend = tf.backend() as WebGPUBackend;
    const owned = (backend as unknown as { commandQueueOwnedIds: WeakSet<object> })
      .commandQueueOwnedIds;
    const n = 4099; // an odd size: a buffer key of its own
    const base = tf.tensor1d(Array.from({ length: n }, (_, i) => i % 17));
    const doubled = tf.mul(base, 2);
    const reader = tf.add(doubled, 1); // encoded, not submitted: it has yet to read `doubled`
    const freed = bufferOf(backend, doubled);
    assert.ok(owned.has(doubled.dataId), "still owned by the unsubmitted commands");
    doubled.dispose();
    // The next tensor of the same size gets the freed buffer and is written after `reader` read it.
    const overwrite = tf.mul(base, 5);
    assert.equal(bufferOf(backend, overwrite), freed, "reused before any submit");
    // An upload into a reused buffer goes through the command encoder too.
    const next = tf.add(overwrite, 0);
    overwrite.dispose();
    const uploaded = tf.tensor1d(new Float32Array(n).fill(-3));
    assert.equal(bufferOf(backend, uploaded), freed, "the upload reuses it as well");
    const sum = tf.add(uploaded, 0);
    const expect = (k: number, c: number) => Array.from({ length: n }, (_, i) => (i % 17) * k + c);
    assert.deepEqual(await valuesOf(reader), expect(2, 1));
    assert.deepEqual(await valuesOf(next), expect(5, 0));
    assert.deepEqual(await valuesOf(sum), new Array(n).fill(-3));
    tf.dispose([base, uploaded]);
  },
});

Deno.test({
  name: "core/eager_release: a buffer with another reference left stays with its tensor",
  ignore: adapter === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend("webgpu");
    const backend = tf.backend() as WebGPUBackend;
    const a = tf.mul(tf.ones([1031]), 3);
    const alias = tf.reshape(a, [1031, 1]); // shares the buffer
    const buffer = bufferOf(backend, a);
    a.dispose();
    const other = tf.mul(tf.ones([1031]), 4);
    assert.notEqual(bufferOf(backend, other), buffer);
    assert.deepEqual(await valuesOf(alias), new Array(1031).fill(3));
    other.dispose();
  },
});

Deno.test({
  name: "core/eager_release: queue.writeBuffer into a tensor's buffer is refused",
  ignore: adapter === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend("webgpu");
    const backend = tf.backend() as WebGPUBackend;
    const t = tf.mul(tf.ones([8]), 2);
    const queue = (backend as unknown as { queue: GPUQueue }).queue;
    assert.throws(
      () => queue.writeBuffer(bufferOf(backend, t), 0, new Float32Array(8)),
      /writeBuffer into a tensor's buffer/,
    );
    assert.deepEqual(await valuesOf(t), new Array(8).fill(2));
  },
});
