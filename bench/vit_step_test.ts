/**
 * The ViT benchmark step on the WebGPU fallback adapter (CI's llvmpipe):
 * after the warm-up steps, GPU memory — live tensors and tfjs's buffer pool —
 * and the tensor count stay flat from step to step (a leak in a kernel, the
 * optimizer or the step would grow them), and the counters report real values.
 */
import assert from "node:assert/strict";
import { benchVitStep } from "./vit_step.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`bench/vit_step_test.ts skipped: ${skip}`);

Deno.test({
  name: "bench gpu-vit: GPU memory and tensors are flat over the timed steps",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await useNovalabWebGpu();
    const r = await benchVitStep({
      batch: 2,
      img: 16,
      patch: 8,
      dim: 16,
      depth: 1,
      heads: 2,
      out: 8,
      steps: 6,
    });
    const memory = r.gpuMemory!;
    assert.ok(memory, "webgpu reports GPU memory");
    assert.ok(memory.liveBytes[0] > 0 && memory.pooledBytes[0] >= memory.liveBytes[0]);
    assert.deepEqual(memory.liveBytes[1], memory.liveBytes[0], "live tensor bytes are flat");
    assert.deepEqual(memory.pooledBytes[1], memory.pooledBytes[0], "the buffer pool is flat");
    assert.equal(memory.peakPooledBytes, memory.pooledBytes[0]);
    assert.equal(r.tensors[1], r.tensors[0], "tensor count is flat");
    assert.ok(Number.isFinite(r.loss));
    assert.ok(r.webgpu!.dispatchesPerStep > 0);
  },
});
