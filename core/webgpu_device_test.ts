import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import {
  applyReadWriteInputs,
  hasShaderF16,
  hoistEnableDirectives,
  requestWebGpuAdapter,
  submitPendingWork,
} from "./webgpu_device.ts";
import { countDispatches } from "../kernels/dispatch_count.ts";
import { initBackend } from "./backend.ts";

Deno.test("core/webgpu_device: enable directives move to the top once, the rest stays", () => {
  const code = "struct U { a: f32 };\n  enable f16;\nfn f() {}\nenable f16;\n// enable later\n";
  const out = hoistEnableDirectives(code);
  assert.equal(out, "enable f16;\nstruct U { a: f32 };\n\nfn f() {}\n\n// enable later\n");
  assert.equal(hoistEnableDirectives("fn main() {}"), "fn main() {}");
});

const adapter = await requestWebGpuAdapter();

Deno.test({
  name:
    "core/webgpu_device: the webgpu backend's device has shader-f16 exactly when its adapter does",
  ignore: adapter === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const info = await initBackend("webgpu");
    const offered = adapter!.features.has("shader-f16");
    assert.equal(info.adapter?.shaderF16, offered);
    assert.equal(hasShaderF16(tf.backend() as WebGPUBackend), offered);
  },
});

Deno.test("core/webgpu_device: marked inputs become read_write storage, others stay read-only", () => {
  const prelude = "@group(0) @binding(1) var<storage, read> p0: array<f32>;\n" +
    "@group(0) @binding(2) var<storage, read> o1: array<f32>;\n" +
    "@group(0) @binding(3) var<storage, read> o10: array<f32>;\n";
  const code = `${prelude}// novalab:read_write o1 o10\nfn main() {}`;
  const out = applyReadWriteInputs(code);
  assert.match(out, /var<storage, read> p0: array<f32>;/);
  assert.match(out, /var<storage, read_write> o1: array<f32>;/);
  assert.match(out, /var<storage, read_write> o10: array<f32>;/);
  assert.equal(applyReadWriteInputs(prelude), prelude, "no marker: unchanged");
  assert.throws(
    () => applyReadWriteInputs(`${prelude}// novalab:read_write missing\n`),
    /names 'missing', but the shader has no read-only storage binding 'missing'/,
  );
});

Deno.test({
  name:
    "core/webgpu_device: submitPendingWork sends recorded work at once, and only when there is some",
  ignore: adapter === null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend("webgpu");
    const backend = tf.backend() as WebGPUBackend;
    const pending = () => (backend as unknown as { commandEncoder: unknown }).commandEncoder;
    const counter = countDispatches(backend);
    const x = tf.fill([40, 30], 2); // ≥ 1000 entries: the addition runs on the GPU
    const y = tf.add(x, 1);
    assert.ok(pending(), "tfjs holds the addition until a submit batch fills or a read");
    const before = counter.read().submits;
    submitPendingWork();
    assert.equal(pending(), null, "recorded work was submitted");
    assert.equal(counter.read().submits, before + 1);
    submitPendingWork(); // nothing pending: no empty submit
    assert.equal(counter.read().submits, before + 1);
    assert.deepEqual([...await y.data()].slice(0, 3), [3, 3, 3]);
    submitPendingWork(tf.findBackend("cpu")); // other backends: a no-op
    counter.detach();
    tf.dispose([x, y]);
  },
});
