/**
 * `logSumExp` off WebGPU (`kernels/logsumexp.ts`): `tf.logSumExp` with the
 * softmax as its analytic gradient, against tfjs's own gradient (through the
 * max) on the CPU backend, on CPU and WASM: odd sizes, large logits and
 * masked (−10⁹) entries. (Kept apart from the WebGPU tests, which the GPU
 * bundle runs without the WASM binaries.)
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import { profileKernels } from "../bench/kernel_profile.ts";
import { logSumExp } from "./logsumexp.ts";
import { lseAndGrad, lseReference } from "./testing_cases.ts";
import { assertClose, valuesOn } from "./testing.ts";

const reference = lseReference;

Deno.test({
  name: "kernels/logsumexp: off WebGPU the softmax gradient matches tf.logSumExp's (CPU, WASM)",
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend("wasm");
    for (const shape of [[1, 1], [3, 5], [33, 7], [128, 128]] as [number, number][]) {
      for (const axis of [0, 1] as const) {
        const expected = await valuesOn("cpu", lseAndGrad(shape, axis, reference));
        for (const backend of ["cpu", "wasm"] as const) {
          await tf.setBackend(backend);
          const profiler = profileKernels(backend);
          profiler.phase("lse");
          const out = tf.tidy(lseAndGrad(shape, axis, logSumExp));
          const equal = profiler.read().find((s) => s.kernel === "Equal")?.calls ?? 0;
          profiler.detach();
          assert.equal(equal, 0, `${backend}: no gradient through the max (Equal)`);
          const actual = out.map((t) => t.dataSync() as Float32Array);
          tf.dispose(out);
          const what = `${backend} [${shape}] axis ${axis}`;
          assertClose(actual[0]!, expected[0]!, `${what} value`, { atol: 1e-5, rtol: 1e-6 });
          assertClose(actual[1]!, expected[1]!, `${what} gradient`, { atol: 1e-6, rtol: 1e-5 });
        }
      }
    }
  },
});
