/**
 * The ViT benchmark step on the WebGPU fallback adapter (CI's llvmpipe):
 * after the warm-up steps, GPU memory — live tensors and tfjs's buffer pool —
 * and the tensor count stay flat from step to step (a leak in a kernel, the
 * optimizer or the step would grow them), whether the steps are issued back to
 * back or each waits for its loss, or replayed, and the counters report real
 * values.
 */
import assert from "node:assert/strict";
import { benchVitStep, gpuMemoryFlat, type VitStepResult } from "./vit_step.ts";
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
    for (const syncEveryStep of [false, true]) {
      const r = await benchVitStep({
        batch: 2,
        img: 16,
        patch: 8,
        dim: 16,
        depth: 1,
        heads: 2,
        out: 8,
        steps: 6,
        syncEveryStep,
      });
      checkFlat(r);
    }
  },
});

Deno.test({
  name: "bench gpu-vit --replay: every timed step is a replay, memory as flat, same dispatches",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await useNovalabWebGpu();
    const o = { batch: 2, img: 16, patch: 8, dim: 16, depth: 1, heads: 2, out: 8, steps: 4 };
    const written = await benchVitStep(o);
    const r = await benchVitStep({ ...o, replay: true });
    checkFlat(r);
    assert.equal(r.replay?.mode, "replaying", `reason: ${r.replay?.reason}`);
    assert.deepEqual(r.webgpu!.byProgram, [["(replayed)", written.webgpu!.dispatchesPerStep]]);
    assert.equal(r.webgpu!.dispatchesPerStep, written.webgpu!.dispatchesPerStep);
  },
});

/** Memory, tensors and counters of a run are flat and real. */
function checkFlat(r: VitStepResult): void {
  const memory = r.gpuMemory!;
  assert.ok(memory, "webgpu reports GPU memory");
  assert.ok(memory.liveBytes[0] > 0 && memory.pooledBytes[0] >= memory.liveBytes[0]);
  assert.deepEqual(memory.liveBytes[1], memory.liveBytes[0], "live tensor bytes are flat");
  const pool = memory.pooledBytes;
  assert.equal(pool[1], pool[0], `the buffer pool is flat: ${pool}`);
  assert.equal(memory.peakPooledBytes, pool[0]);
  assert.ok(gpuMemoryFlat(memory));
  assert.equal(r.tensors[1], r.tensors[0], "tensor count is flat");
  assert.ok(Number.isFinite(r.loss));
  assert.ok(r.webgpu!.dispatchesPerStep > 0);
}
