/**
 * The global gradient norm and clipping factor (`core/clip_grad.ts`
 * `clipScale`): on the CPU the op composition (`clipByGlobalNorm`'s numbers);
 * on WebGPU the fused kernels (`kernels/grad_norm.ts`) against it — many
 * gradients in several groups, sizes across the 2,048-element chunks, a
 * non-finite gradient — in a few dispatches whatever the parameter count.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import { clipByGlobalNorm, clipScale } from "../core/clip_grad.ts";
import { CHUNK } from "./grad_norm.ts";
import { useNovalabWebGpu, values, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** 40 gradients (more than one group of 16), 1 to 3·CHUNK + 5 elements. */
function gradients(): Map<string, tf.Tensor> {
  const sizes = Array.from(
    { length: 40 },
    (_, i) => [1, 7, CHUNK - 1, CHUNK + 1, 3 * CHUNK + 5][i % 5]!,
  );
  return new Map(
    sizes.map((n, i) => [`p${i}`, tf.tensor1d(values(n, i + 1).map((v) => v * (i % 3 + 1)))]),
  );
}

async function normAndScale(maxNorm?: number): Promise<[number, number | null]> {
  const grads = gradients();
  const { norm, scale } = clipScale(grads, maxNorm);
  const out: [number, number | null] = [
    (await norm.data())[0]!,
    scale ? (await scale.data())[0]! : null,
  ];
  tf.dispose([...grads.values(), norm, ...(scale ? [scale] : [])]);
  return out;
}

Deno.test("clipScale on the CPU: clipByGlobalNorm's norm and factor, null without maxNorm", async () => {
  await tf.setBackend("cpu");
  const grads = gradients();
  const reference = clipByGlobalNorm(grads, 1);
  const { norm, scale } = clipScale(grads, 1);
  assert.equal((await norm.data())[0], (await reference.norm.data())[0]);
  const g0 = await grads.get("p3")!.data(), c0 = await reference.grads.get("p3")!.data();
  assert.equal(Math.fround(g0[0]! * (await scale!.data())[0]!), c0[0]);
  const without = clipScale(grads);
  assert.equal(without.scale, null);
  tf.dispose([
    ...grads.values(),
    ...reference.grads.values(),
    reference.norm,
    norm,
    scale!,
    without.norm,
  ]);
  assert.throws(() => clipScale(new Map(), 0), /maxNorm must be a finite number > 0/);
});

Deno.test({
  name: "kernels/grad_norm: the fused norm and factor match the CPU's, in a few dispatches",
  ...opts,
  async fn() {
    await tf.setBackend("cpu");
    const [cpuNorm, cpuScale] = await normAndScale(1);
    const counter = await useNovalabWebGpu();
    const before = tf.memory().numTensors;
    const [norm, scale] = await normAndScale(1);
    const ran = counter.read();
    assert.ok(Math.abs(norm - cpuNorm) <= 1e-5 * cpuNorm, `norm ${norm} vs ${cpuNorm}`);
    assert.ok(Math.abs(scale! - cpuScale!) <= 1e-5 * cpuScale!, `scale ${scale} vs ${cpuScale}`);
    assert.ok(cpuScale! < 1, "the sample is clipped");
    const squared = ran.byProgram["NovalabSquaredSumGroupProgram"] ?? 0;
    assert.ok(squared >= 2 && squared <= 40 / 2, `${squared} group dispatches for 40 gradients`);
    assert.equal(ran.byProgram["NovalabNormFinishProgram"], 1);
    assert.equal(ran.byProgram["ReduceProgram"] ?? 0, 0, "no per-parameter sums");
    assert.equal(tf.memory().numTensors, before, "nothing leaks");
    const [free, none] = await normAndScale();
    assert.equal(none, null);
    assert.ok(Math.abs(free - cpuNorm) <= 1e-5 * cpuNorm);
  },
});

Deno.test({
  name: "kernels/grad_norm: non-finite gradients give the composition's norm and factor",
  ...opts,
  async fn() {
    await useNovalabWebGpu();
    const grads = new Map([["a", tf.tensor1d([1, NaN, 2])], ["b", tf.tensor1d([Infinity])]]);
    const { norm, scale } = clipScale(grads, 1);
    assert.ok(Number.isNaN((await norm.data())[0]!), "NaN and ∞ among the gradients: NaN");
    assert.ok(Number.isNaN((await scale!.data())[0]!), "and a NaN factor, as the composition");
    tf.dispose([...grads.values(), norm, scale!]);
    const infinite = new Map([["a", tf.tensor1d([1, 2])], ["b", tf.tensor1d([-Infinity])]]);
    const inf = clipScale(infinite, 1);
    assert.equal((await inf.norm.data())[0], Infinity);
    assert.equal((await inf.scale!.data())[0], 0, "∞ norm: factor 0, as the composition");
    tf.dispose([...infinite.values(), inf.norm, inf.scale!]);
  },
});
