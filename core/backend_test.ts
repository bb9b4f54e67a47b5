/**
 * WebGPU submit batching: the default and its environment override are
 * validated, and activating WebGPU makes tfjs submit once per
 * {@linkcode WEBGPU_SUBMIT_BATCH} dispatches (counted on the backend; runs on
 * any adapter, including Mesa's llvmpipe fallback).
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import {
  initBackend,
  SUBMIT_BATCH_ENV,
  WEBGPU_SUBMIT_BATCH,
  webgpuSubmitBatch,
} from "./backend.ts";
import { countDispatches } from "../kernels/dispatch_count.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`core/backend_test.ts WebGPU case skipped: ${skip}`);

function withEnv<T>(value: string | undefined, f: () => T): T {
  const before = Deno.env.get(SUBMIT_BATCH_ENV);
  try {
    if (value === undefined) Deno.env.delete(SUBMIT_BATCH_ENV);
    else Deno.env.set(SUBMIT_BATCH_ENV, value);
    return f();
  } finally {
    if (before === undefined) Deno.env.delete(SUBMIT_BATCH_ENV);
    else Deno.env.set(SUBMIT_BATCH_ENV, before);
  }
}

Deno.test("backend: the WebGPU submit batch defaults to 64 and its override is validated", () => {
  assert.equal(WEBGPU_SUBMIT_BATCH, 64);
  assert.equal(withEnv(undefined, webgpuSubmitBatch), 64);
  assert.equal(withEnv("", webgpuSubmitBatch), 64);
  assert.equal(withEnv("128", webgpuSubmitBatch), 128);
  for (const bad of ["0", "-3", "2.5", "many"]) {
    assert.throws(
      () => withEnv(bad, webgpuSubmitBatch),
      new RegExp(`NOVALAB_WEBGPU_SUBMIT_BATCH='${bad}' is not valid; expected an integer >= 1`),
    );
  }
});

Deno.test({
  name: "backend: WebGPU submits once per 64 dispatches",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    if (Deno.env.get(SUBMIT_BATCH_ENV)) return; // an explicit override is being measured
    const info = await initBackend("webgpu");
    assert.equal(info.submitBatch, WEBGPU_SUBMIT_BATCH);
    assert.equal(tf.env().getNumber("WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE"), WEBGPU_SUBMIT_BATCH);
    const x = tf.ones([40, 30]); // ≥ 1000 entries, so tfjs runs the adds on the GPU
    const warm = tf.add(x, 0);
    await warm.data(); // x now lives on the GPU; nothing pending
    warm.dispose();
    const counter = countDispatches(tf.backend() as WebGPUBackend);
    let y = tf.add(x, 1);
    for (let i = 1; i < 130; i++) {
      const next = tf.add(y, 1);
      y.dispose();
      y = next;
    }
    assert.equal(counter.read().dispatches, 130);
    assert.equal(counter.read().submits, 2, "after dispatch 64 and 128");
    assert.equal((await y.data())[0], 131);
    assert.equal(counter.read().submits, 3, "and once more to read the result");
    counter.detach();
    tf.dispose([x, y]);
    await tf.setBackend("cpu");
  },
});
