/**
 * The dispatch counter sees every dispatch and submit of the WebGPU backend,
 * nests, and leaves the backend as it was when detached.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { countDispatches } from "./dispatch_count.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/dispatch_count_test.ts skipped: ${skip}`);

Deno.test({
  name: "kernels/dispatch_count: counts dispatches by program, nests and detaches cleanly",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await useNovalabWebGpu(); // attaches the tests' own counter first
    const backend = tf.backend() as WebGPUBackend;
    const before = Object.getOwnPropertyDescriptor(backend, "recordAndSubmit");
    const outer = countDispatches(backend);
    const inner = countDispatches(backend);
    // ≥ 1000 entries: tfjs runs smaller ops on CPU-resident data on the CPU.
    const x = tf.ones([40, 30]);
    const y = tf.matMul(tf.add(x, 1), x, false, true); // one elementwise + one matmul dispatch
    await y.data();
    for (const c of [outer, inner]) {
      const n = c.read();
      assert.equal(n.dispatches, 2);
      assert.deepEqual(n.byProgram, { BinaryOpProgram: 1, NovalabMatMulProgram: 1 });
      assert.ok(n.submits >= 1, "reading the result submits the queue");
    }
    inner.detach();
    outer.reset();
    const z = tf.add(y, 1);
    await z.data();
    assert.equal(outer.read().dispatches, 1);
    assert.equal(inner.read().dispatches, 2, "a detached counter no longer counts");
    outer.detach();
    assert.deepEqual(Object.getOwnPropertyDescriptor(backend, "recordAndSubmit"), before);
    tf.dispose([x, y, z]);
  },
});
