/**
 * `logSumExp` off WebGPU (`kernels/logsumexp.ts`): `tf.logSumExp` with the
 * softmax as its analytic gradient, against tfjs's own gradient (through the
 * max) on the CPU backend, on CPU and WASM: odd sizes, large logits and
 * masked (−10⁹) entries. (Kept apart from the WebGPU tests, which the GPU
 * bundle runs without the WASM binaries.)
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../core/backend.ts";
import { logSumExp } from "./logsumexp.ts";
import { assertClose, values, valuesOn } from "./testing.ts";

/** LSE over `axis` and the gradient of Σ lse·w; logits of scale 30 with a masked diagonal. */
function lseAndGrad(shape: [number, number], axis: 0 | 1, lse: typeof logSumExp) {
  return () => {
    const [r, c] = shape;
    const v = values(r * c, 21).map((x) => 30 * x);
    for (let i = 0; i < Math.min(r, c); i++) v[i * c + i] = -1e9;
    const x = tf.tensor2d(v, shape);
    const w = tf.tensor1d(values(axis === 1 ? r : c, 22));
    return [lse(x, axis), tf.grad((a: tf.Tensor) => tf.sum(tf.mul(lse(a, axis), w)))(x)];
  };
}

const reference = (x: tf.Tensor, axis: 0 | 1) => tf.logSumExp(x, axis) as tf.Tensor1D;

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
          const out = tf.tidy(lseAndGrad(shape, axis, logSumExp));
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
