/**
 * Turns WebGPU's silent failure at the device's size limits into an error.
 *
 * A buffer bound to a shader larger than `maxStorageBufferBindingSize`, or a
 * buffer larger than `maxBufferSize`, is a WebGPU validation error: the
 * dispatch (in fact its whole command buffer) does nothing, nothing is thrown,
 * and training goes on with zeros — a ViT-Ti/16 step at batch 256 on an adapter
 * with the common 128 MiB binding limit (its MLP hidden activations are
 * 155 MiB) "ran" in 34 ms with a loss of 0. novalab's device checks both sizes
 * where the buffer is created or bound and throws, naming the size, the limit,
 * the adapter and what to change.
 *
 * @module
 */

const MIB = 2 ** 20;

function mib(bytes: number): string {
  return `${(bytes / MIB).toFixed(1)} MiB (${bytes} bytes)`;
}

function limitError(
  what: string,
  bytes: number,
  limitName: string,
  limit: number,
  adapter: string,
): Error {
  return new Error(
    `WebGPU: ${what} of ${mib(bytes)} is above this device's ${limitName} of ${mib(limit)} ` +
      `(${adapter}); WebGPU would skip the work silently and train on zeros. Reduce the batch ` +
      "(or the model width/tokens: activations grow with batch × tokens × width), or use an " +
      "adapter with larger limits.",
  );
}

/**
 * Wraps `device.createBuffer` and `device.createBindGroup` so that a buffer
 * above `maxBufferSize` or a buffer binding above `maxStorageBufferBindingSize`
 * throws instead of failing silently. Install it before anything else wraps
 * `createBindGroup` (a bind-group cache then checks only on a miss).
 */
export function guardDeviceLimits(device: GPUDevice, adapter: string): void {
  const maxBinding = device.limits.maxStorageBufferBindingSize;
  const maxBuffer = device.limits.maxBufferSize;
  const createBuffer = device.createBuffer.bind(device);
  device.createBuffer = (descriptor: GPUBufferDescriptor) => {
    if (descriptor.size > maxBuffer) {
      throw limitError("a buffer", descriptor.size, "maxBufferSize", maxBuffer, adapter);
    }
    return createBuffer(descriptor);
  };
  const createBindGroup = device.createBindGroup.bind(device);
  device.createBindGroup = (descriptor: GPUBindGroupDescriptor) => {
    for (const entry of descriptor.entries) {
      const r = entry.resource as GPUBufferBinding;
      if (!r.buffer) continue;
      const bytes = r.size ?? r.buffer.size - (r.offset ?? 0);
      if (bytes > maxBinding) {
        throw limitError(
          `a kernel's input or output (binding ${entry.binding})`,
          bytes,
          "maxStorageBufferBindingSize",
          maxBinding,
          adapter,
        );
      }
    }
    return createBindGroup(descriptor);
  };
}
