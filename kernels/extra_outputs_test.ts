/**
 * Programs with extra outputs (`kernels/extra_outputs.ts`): one dispatch
 * writes its `result` and two more tensors of other shapes, every element of
 * each checked; a backend whose device is not novalab's gets a clear error.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend, WebGPUProgram } from "@tensorflow/tfjs-backend-webgpu";
import { readWriteLine, runWithExtraOutputs } from "./extra_outputs.ts";
import { useNovalabWebGpu, webgpuSkipReason } from "./testing.ts";

const skip = await webgpuSkipReason();
const opts = { ignore: skip !== null, sanitizeOps: false, sanitizeResources: false };

/** `result = 2x`, `twice = [x, x]` (length 2n), `total = [Σx]` (thread 0). */
class SplitProgram implements WebGPUProgram {
  variableNames = ["x", "twice", "total"];
  outputShape: number[];
  shaderKey = "novalabTestSplit";
  dispatchLayout = { x: [0] };
  dispatch: [number, number, number];
  workgroupSize: [number, number, number] = [64, 1, 1];
  uniforms = "n : i32,";
  constructor(n: number) {
    this.outputShape = [n];
    this.dispatch = [Math.ceil(n / 64), 1, 1];
  }
  getUserCode(): string {
    return `
${readWriteLine(["twice", "total"])}
fn main(index : i32) {
  if (index >= uniforms.n) { return; }
  result[index] = 2.0 * x[index];
  twice[index] = x[index];
  twice[index + uniforms.n] = x[index];
  if (index == 0) {
    var s = 0.0;
    for (var i = 0; i < uniforms.n; i++) { s += x[i]; }
    total[0] = s;
  }
}`;
  }
}

Deno.test({
  name: "kernels/extra_outputs: one dispatch writes its result and two extra outputs",
  ...opts,
  async fn() {
    const counter = await useNovalabWebGpu();
    const backend = tf.backend() as WebGPUBackend;
    const n = 67;
    const x = tf.range(0, n, 1, "float32");
    counter.reset();
    const [doubled, twice, total] = runWithExtraOutputs(
      backend,
      new SplitProgram(n),
      [x],
      [[2 * n], [1]],
      [{ type: "int32", data: [n] }],
    ).map((info) => tf.engine().makeTensorFromTensorInfo(info));
    assert.equal(counter.read().dispatches, 1);
    const xs = Array.from({ length: n }, (_, i) => i);
    assert.deepEqual(Array.from(await doubled!.data()), xs.map((v) => 2 * v));
    assert.deepEqual(Array.from(await twice!.data()), [...xs, ...xs]);
    assert.deepEqual(Array.from(await total!.data()), [(n * (n - 1)) / 2]);
    tf.dispose([x, doubled!, twice!, total!]);
  },
});

Deno.test("kernels/extra_outputs: a device novalab did not make is refused with the fix", () => {
  const foreign = { device: {} } as unknown as WebGPUBackend;
  assert.throws(
    () => runWithExtraOutputs(foreign, new SplitProgram(1), [], [[1]], []),
    /SplitProgram writes 1 extra outputs, which needs novalab's webgpu device.*initBackend/,
  );
});
