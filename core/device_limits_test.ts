/**
 * WebGPU's size limits give an error, not a silent no-op: the guard on a
 * stand-in device (exact sizes, the message), and on the real adapter an op
 * whose tensor is above its `maxStorageBufferBindingSize` (lavapipe's 128 MiB)
 * throws where it used to return zeros.
 */
import * as tf from "@tensorflow/tfjs";
import assert from "node:assert/strict";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { guardDeviceLimits } from "./device_limits.ts";
import { initBackend } from "./backend.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";

const MIB = 2 ** 20;

function standIn(maxBinding: number, maxBuffer: number) {
  const made: string[] = [];
  const device = {
    limits: { maxStorageBufferBindingSize: maxBinding, maxBufferSize: maxBuffer },
    createBuffer: (d: GPUBufferDescriptor) => {
      made.push(`buffer ${d.size}`);
      return { size: d.size } as GPUBuffer;
    },
    createBindGroup: (d: GPUBindGroupDescriptor) => {
      made.push(`group ${d.entries.length}`);
      return {} as GPUBindGroup;
    },
  };
  guardDeviceLimits(device as unknown as GPUDevice, "Test Adapter");
  return { device: device as unknown as GPUDevice, made };
}

Deno.test("core/device_limits: buffers and bindings up to the limits pass, above them throw naming size, limit and adapter", () => {
  const { device, made } = standIn(128 * MIB, 256 * MIB);
  const small = device.createBuffer({ size: 128 * MIB, usage: 0 });
  const big = { size: 200 * MIB } as GPUBuffer;
  const layout = {} as GPUBindGroupLayout;
  device.createBindGroup({ layout, entries: [{ binding: 0, resource: { buffer: small } }] });
  device.createBindGroup({
    layout,
    entries: [{ binding: 1, resource: { buffer: big, offset: 0, size: 64 * MIB } }],
  });
  assert.deepEqual(made, [`buffer ${128 * MIB}`, "group 1", "group 1"]);
  assert.throws(
    () => device.createBindGroup({ layout, entries: [{ binding: 2, resource: { buffer: big } }] }),
    /binding 2\) of 200\.0 MiB \(209715200 bytes\) is above this device's maxStorageBufferBindingSize of 128\.0 MiB \(134217728 bytes\) \(Test Adapter\); .*Reduce the batch/,
  );
  assert.throws(
    () => device.createBuffer({ size: 300 * MIB, usage: 0 }),
    /a buffer of 300\.0 MiB \(314572800 bytes\) is above this device's maxBufferSize of 256\.0 MiB/,
  );
  assert.equal(made.length, 3, "nothing was created past a limit");
});

const skip = await webgpuSkipReason();

Deno.test({
  name:
    "core/device_limits: an op on a tensor above the adapter's binding limit throws instead of giving zeros",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    await initBackend("webgpu");
    const limit = (tf.backend() as WebGPUBackend).device.limits.maxStorageBufferBindingSize;
    if (limit > 256 * MIB) {
      console.warn(
        `maxStorageBufferBindingSize is ${limit / MIB} MiB here: the large case is not run`,
      );
      return;
    }
    const floats = limit / 4 + 1024;
    const before = tf.memory().numTensors;
    await assert.rejects(async () => {
      const y = tf.tidy(() => tf.add(tf.fill([floats], 1), 1));
      try {
        await y.data();
      } finally {
        y.dispose();
      }
    }, /is above this device.s maxStorageBufferBindingSize of [0-9.]+ MiB \(\d+ bytes\)/);
    assert.equal(tf.memory().numTensors, before, "nothing left behind");
  },
});
