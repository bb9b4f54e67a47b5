/**
 * A kernel whose shader does not compile used to leave its output as zeros
 * with no error; novalab's backend makes the next read throw the device's
 * message, and reads after that work again.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { initBackend } from "./backend.ts";
import { FlatProgram } from "../kernels/program_base.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();

/** `result = x + 1`, with WGSL that does not compile when `broken`. */
class PlusOneProgram extends FlatProgram {
  variableNames = ["x"];
  shaderKey: string;
  uniforms = "units : i32,";
  constructor(units: number, readonly broken: boolean) {
    super(units);
    this.shaderKey = `deviceErrorsTest_${broken}`;
  }
  getUserCode(): string {
    const body = this.broken
      ? "result[index] = x[index] + undefinedName;"
      : "result[index] = x[index] + 1.0;";
    return `
fn main(index : i32) {
  if (index < uniforms.units) { ${body} }
}`;
  }
}

function plusOne(x: tf.Tensor, broken: boolean): tf.Tensor {
  const backend = tf.backend() as WebGPUBackend;
  const info = backend.runWebGPUProgram(new PlusOneProgram(x.size, broken), [x], "float32", [
    { type: "int32", data: [x.size] },
  ]);
  return tf.engine().makeTensorFromTensorInfo(info);
}

Deno.test({
  name:
    "core/device_errors: a kernel that did not run makes the next read throw, with the device's message",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend("webgpu");
    const x = tf.tensor1d([1, 2, 3]);
    const good = plusOne(x, false);
    assert.deepEqual(Array.from(await good.data()), [2, 3, 4]);
    const bad = plusOne(x, true);
    await assert.rejects(
      () => bad.data(),
      /WebGPU \(.+\) reported \d+ errors? since the last read, so some kernels did not run/,
    );
    const again = plusOne(x, false);
    assert.deepEqual(Array.from(await again.data()), [2, 3, 4], "later reads work again");
    tf.dispose([x, good, bad, again]);
  },
});
