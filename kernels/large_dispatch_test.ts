/**
 * A flat novalab kernel over more than 65,535 workgroups' worth of elements
 * (WebGPU's default per-dimension limit: 4.2 M elements at 64 threads; the
 * ReLU gradient of a ViT-S fc1 at batch 256 has 77 M). novalab's flat
 * programs ask for a 1-D grid; tfjs-backend-webgpu folds an over-limit grid
 * into 2-D (`reshapeDispatch`) and numbers threads across it
 * (`getGlobalIndex`). This pins that every element is still computed once.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { RELU_GRAD } from "./linear.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

Deno.test({
  name: "kernels/linear: the ReLU gradient of 4.2 M+ elements covers every element once",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    // Odd size: one element per thread, 65,538 workgroups of 64 threads.
    const size = 64 * 65535 + 129;
    const dyValues = new Float32Array(size), yValues = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      dyValues[i] = (i % 1000) + 1;
      yValues[i] = i % 3 === 0 ? -1 : 1;
    }
    const dy = tf.tensor1d(dyValues), y = tf.tensor1d(yValues);
    counter.reset();
    const dz = tf.engine().runKernel(RELU_GRAD, { dy, y }) as tf.Tensor;
    assert.equal(counter.read().byProgram["NovalabActivationGradProgram"], 1);
    const out = await dz.data();
    let wrong = -1;
    for (let i = 0; i < size && wrong < 0; i++) {
      if (out[i] !== (i % 3 === 0 ? 0 : dyValues[i])) wrong = i;
    }
    assert.equal(wrong, -1, `entry ${wrong} is ${out[wrong]}`);
    tf.dispose([dy, y, dz]);
  },
});
