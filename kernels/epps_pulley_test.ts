/**
 * The fused WebGPU Epps–Pulley statistic (forward and backward) against the
 * op composition of `losses/epps_pulley.ts` on tfjs's CPU backend, for both
 * quadratures, odd slice counts, several views and more samples than lanes;
 * SIGReg's DESIGN §5 value on the fused path. Runs on any adapter, including
 * Mesa's llvmpipe fallback in CI.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { quadratureNodes } from "../losses/epps_pulley.ts";
import { assertEppsPulleyClose, eppsPulleyAndGrad } from "./testing_cases.ts";
import { sigreg } from "../losses/sigreg.ts";
import { fusedEppsPulley, fusedEppsPulleyActive } from "./epps_pulley.ts";
import { assertClose, useNovalabWebGpu, valuesOn, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`kernels/epps_pulley_test.ts WebGPU cases skipped: ${skip}`);
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

const SHAPES: [number, number, number][] = [[1, 1, 1], [1, 4, 3], [3, 17, 33], [2, 64, 70]];

Deno.test({
  name: "kernels/epps_pulley: fused statistic and gradient match the composition",
  ...opts,
  async fn() {
    for (const quadrature of ["code", "paper"] as const) {
      for (const shape of SHAPES) {
        const expected = await valuesOn("cpu", eppsPulleyAndGrad(shape, quadrature));
        const counter = await useNovalabWebGpu();
        const actual = await valuesOn("webgpu", eppsPulleyAndGrad(shape, quadrature));
        assertEppsPulleyClose(actual, expected, `${quadrature} [${shape}]`, shape[1]);
        const ran = counter.read().byProgram;
        assert.equal(ran["NovalabEppsPulleyProgram"], 2, "one forward dispatch per call");
        assert.equal(ran["NovalabEppsPulleyGradProgram"], 1, "one backward dispatch");
      }
    }
  },
});

Deno.test({
  name: "kernels/epps_pulley: accurate sines and cosines far from zero (|t·u| up to 300)",
  ...opts,
  async fn() {
    const shape: [number, number, number] = [2, 40, 9];
    const expected = await valuesOn("cpu", eppsPulleyAndGrad(shape, "paper", 60));
    await useNovalabWebGpu();
    const actual = await valuesOn("webgpu", eppsPulleyAndGrad(shape, "paper", 60));
    assertClose(actual[0]!, expected[0]!, "EP", { atol: 1e-4, rtol: 1e-4 });
    assertClose(actual[1]!, expected[1]!, "dEP/du", { atol: 2e-5, rtol: 2e-4 });
  },
});

Deno.test({
  name: "kernels/epps_pulley: SIGReg's DESIGN §5 values on the fused path",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const x = tf.tensor2d([[-1], [0], [0.5], [2]]);
    const directions = tf.tensor2d([[1]]);
    assert.ok(fusedEppsPulleyActive(x.reshape([1, 4, 1]) as tf.Tensor3D, 16));
    for (const [quadrature, value] of [["code", 0.214214], ["paper", 0.219065]] as const) {
      const stat = sigreg(x, { directions, quadrature });
      const got = (await stat.data())[0]!;
      stat.dispose();
      assert.ok(Math.abs(got - value) < 1e-5, `${quadrature}: ${got} vs ${value}`);
    }
    tf.dispose([x, directions]);
  },
});

Deno.test({
  name: "kernels/epps_pulley: clear errors for a bad quadrature or shapes",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const u = tf.zeros([1, 2, 3]) as tf.Tensor3D;
    const { t, weights } = quadratureNodes("code");
    assert.throws(
      () => fusedEppsPulley(u, { t: [...t], weights: [...weights].slice(1) }),
      /the quadrature needs 1–32 finite nodes t and as many weights, got 16 nodes and 15 weights/,
    );
    assert.equal(fusedEppsPulleyActive(u, 40), false, "too many nodes: the composition runs");
    u.dispose();
  },
});
