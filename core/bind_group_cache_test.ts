/**
 * The bind-group cache on the WebGPU fallback adapter: a repeated training
 * step creates no bind group after it settles and gives the same values, and
 * the buffer pool hands out the free buffer created first.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { bindGroupCacheStats } from "./bind_group_cache.ts";
import { assertClose, useNovalabWebGpu, values, webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`core/bind_group_cache_test.ts skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "bind_group_cache: a repeated step reuses every bind group and keeps its values",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const device = (tf.backend() as WebGPUBackend).device;
    const x = tf.tensor2d(values(16 * 8, 1), [16, 8]);
    const w = tf.variable(tf.tensor2d(values(8 * 4, 2), [8, 4]));
    const step = async () => {
      const loss = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.square(tf.relu(tf.matMul(x, w)))) as tf.Scalar,
          [w],
        );
        w.assign(tf.sub(w, tf.mul(grads[w.name]!, 0.1)));
        return value;
      });
      const v = (await loss.data())[0]!;
      loss.dispose();
      return v;
    };
    const losses: number[] = [];
    const created: number[] = [];
    for (let i = 0; i < 6; i++) {
      const before = bindGroupCacheStats(device)!;
      losses.push(await step());
      const after = bindGroupCacheStats(device)!;
      created.push(after.misses - before.misses);
      assert.equal(after.uncached, before.uncached, "every binding is a buffer binding");
    }
    assert.deepEqual(created.slice(-2), [0, 0], `bind groups created per step: ${created}`);
    tf.dispose([x, w]);
    // The same six steps on tfjs's CPU backend.
    await tf.setBackend("cpu");
    const cx = tf.tensor2d(values(16 * 8, 1), [16, 8]);
    const cw = tf.variable(tf.tensor2d(values(8 * 4, 2), [8, 4]));
    for (let i = 0; i < 6; i++) {
      const expected = tf.tidy(() => {
        const { value, grads } = tf.variableGrads(
          () => tf.mean(tf.square(tf.relu(tf.matMul(cx, cw)))) as tf.Scalar,
          [cw],
        );
        cw.assign(tf.sub(cw, tf.mul(grads[cw.name]!, 0.1)));
        return value.dataSync()[0]!;
      });
      assertClose([losses[i]!], [expected], `loss of step ${i}`);
    }
    tf.dispose([cx, cw]);
  },
});

Deno.test({
  name: "bind_group_cache: the pool hands out the free buffer created first",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const backend = tf.backend() as WebGPUBackend;
    const pool = (backend as unknown as {
      bufferManager: {
        acquireBuffer(size: number, usage: number): GPUBuffer;
        releaseBuffer(buffer: GPUBuffer): void;
      };
    }).bufferManager;
    const usage = GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC;
    const size = 4 * 12345; // a size nothing else uses
    const [a, b, c] = [0, 1, 2].map(() => pool.acquireBuffer(size, usage));
    // Freed in an order tfjs (last freed, first out) would hand back as c, then a.
    for (const buffer of [b!, a!, c!]) pool.releaseBuffer(buffer);
    assert.equal(pool.acquireBuffer(size, usage), a, "first created");
    assert.equal(pool.acquireBuffer(size, usage), b, "then the next");
  },
});
