/**
 * The fused Epps–Pulley statistic on WASM (`kernels/wasm_epps_pulley.ts`):
 * statistic and gradient against the op composition of
 * `losses/epps_pulley.ts` on tfjs's CPU backend, for both quadratures, slice
 * counts that are and are not multiples of four (the last block overlaps),
 * several views, arguments far from zero; the composition still serves fewer
 * than four slices; the fused kernels really run.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { initBackend } from "../core/backend.ts";
import type { Quadrature } from "../losses/epps_pulley.ts";
import { assertEppsPulleyClose, eppsPulleyAndGrad } from "./testing_cases.ts";
import { EPPS_PULLEY, EPPS_PULLEY_GRAD, fusedEppsPulleyActive } from "./epps_pulley.ts";
import { profileKernels } from "../bench/kernel_profile.ts";

await initBackend("wasm");
const opts = { sanitizeOps: false, sanitizeResources: false };

/** The statistic and the gradient of Σ EP·w with respect to u, read back. */
async function statAndGrad(
  backend: "cpu" | "wasm",
  shape: [number, number, number],
  quadrature: Quadrature,
  scale: number,
): Promise<Float32Array[]> {
  await tf.setBackend(backend);
  const out = tf.tidy(eppsPulleyAndGrad(shape, quadrature, scale));
  const data = await Promise.all(out.map(async (t) => (await t.data()) as Float32Array));
  tf.dispose(out);
  return data;
}

Deno.test({
  name: "kernels/wasm_epps_pulley: fused statistic and gradient match the composition",
  ...opts,
  async fn() {
    const cases: [[number, number, number], number][] = [
      [[1, 4, 4], 2.5],
      [[3, 17, 33], 2.5],
      [[2, 64, 70], 2.5],
      [[2, 40, 9], 60], // |t·u| up to ~300
      [[1, 5, 3], 2.5], // fewer than four slices: the composition
    ];
    await statAndGrad("wasm", [1, 4, 4], "code", 1); // registers the kernels, so they are profiled
    for (const quadrature of ["code", "paper"] as const) {
      for (const [shape, scale] of cases) {
        const expected = await statAndGrad("cpu", shape, quadrature, scale);
        await tf.setBackend("wasm");
        const profiler = profileKernels("wasm");
        profiler.phase("run");
        const actual = await statAndGrad("wasm", shape, quadrature, scale);
        const ran = new Map(profiler.read().map((s) => [s.kernel, s.calls]));
        profiler.detach();
        const fused = shape[2] >= 4;
        assert.equal(ran.get(EPPS_PULLEY) ?? 0, fused ? 2 : 0, `[${shape}] forward kernel calls`);
        assert.equal(ran.get(EPPS_PULLEY_GRAD) ?? 0, fused ? 1 : 0, `[${shape}] backward calls`);
        assertEppsPulleyClose(actual, expected, `${quadrature} [${shape}]`, shape[1]);
      }
    }
  },
});

Deno.test({
  name: "kernels/wasm_epps_pulley: active on WASM from four slices on",
  ...opts,
  async fn() {
    await tf.setBackend("wasm");
    const u4 = tf.zeros([1, 8, 4]) as tf.Tensor3D, u3 = tf.zeros([1, 8, 3]) as tf.Tensor3D;
    assert.equal(fusedEppsPulleyActive(u4, 16), true);
    assert.equal(fusedEppsPulleyActive(u3, 16), false);
    tf.dispose([u4, u3]);
  },
});
