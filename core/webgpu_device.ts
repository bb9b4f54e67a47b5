/**
 * The WebGPU adapter and device novalab trains on. tfjs-backend-webgpu's own
 * factory creates its device without optional shader features, so novalab
 * registers an equivalent factory (same adapter choice and limits) that also
 * enables `shader-f16` when the adapter offers it — the matmul kernel's
 * `precision: f16` path needs it (`kernels/precision.ts`) — and lets programs
 * declare WGSL `enable` directives in their own code: tfjs prepends its
 * bindings to every program, and WGSL wants directives before any
 * declaration, so the device hoists them to the top of each shader module.
 *
 * It also lets a program write more than its one output: tfjs binds every
 * input read-only, and a program that lists input names after
 * {@linkcode READ_WRITE_MARKER} in its code gets those bindings as
 * `read_write` storage (`kernels/extra_outputs.ts` allocates such outputs), so
 * one dispatch can, e.g., update a parameter group's moments and values.
 *
 * Bind groups are reused across steps (`core/bind_group_cache.ts`) and the
 * uniforms of a submit share one buffer (`core/uniform_arena.ts`).
 *
 * On machines whose fallback adapter is Mesa's Vulkan lavapipe, Mesa probes
 * Wayland and prints "XDG_RUNTIME_DIR is invalid or not set" once per device;
 * {@linkcode requestWebGpuAdapter} points that probe at the temp folder first.
 *
 * @module
 */
import { envIs } from "./env.ts";
import * as tf from "@tensorflow/tfjs";
import { installUniformArena } from "./uniform_arena.ts";
import { bindGroupCacheWanted, installBindGroupCache } from "./bind_group_cache.ts";
import { guardDeviceLimits } from "./device_limits.ts";
import { surfaceDeviceErrors } from "./device_errors.ts";
import { watchBackend } from "./backend_watch.ts";
import { eagerReleaseWanted, installEagerRelease } from "./eager_release.ts";
import { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";

/** The WebGPU feature the half-precision kernels need. */
export const SHADER_F16 = "shader-f16";

/** WGSL global `enable` directives (`enable f16;`), one per line. */
const ENABLE_DIRECTIVE = /^[ \t]*enable[ \t]+[A-Za-z0-9_, \t]+;[ \t]*$/gm;

/**
 * Moves WGSL `enable …;` lines to the start of `code` (each once), leaving the
 * rest unchanged; code without directives is returned as it is.
 */
export function hoistEnableDirectives(code: string): string {
  if (!code.includes("enable")) return code;
  const directives = code.match(ENABLE_DIRECTIVE);
  if (!directives) return code;
  const unique = [...new Set(directives.map((d) => d.trim()))];
  return `${unique.join("\n")}\n${code.replace(ENABLE_DIRECTIVE, "")}`;
}

/**
 * Marks a WGSL line naming the inputs a program writes:
 * `// novalab:read_write o0 o1`. Only devices made by novalab's factory honour
 * it ({@linkcode hasReadWriteInputs}).
 */
export const READ_WRITE_MARKER = "// novalab:read_write";

const READ_WRITE_LINE =
  /^[ \t]*\/\/ novalab:read_write((?:[ \t]+[A-Za-z_][A-Za-z0-9_]*)+)[ \t]*$/gm;

/**
 * Turns the read-only storage declarations of the inputs named on
 * {@linkcode READ_WRITE_MARKER} lines into `read_write` ones; code without the
 * marker is returned as it is. Throws when a named input has no read-only
 * storage declaration (the program and its marker disagree).
 */
export function applyReadWriteInputs(code: string): string {
  if (!code.includes(READ_WRITE_MARKER)) return code;
  const names = [...code.matchAll(READ_WRITE_LINE)].flatMap((m) => m[1]!.trim().split(/\s+/));
  let out = code;
  for (const name of new Set(names)) {
    const declaration = new RegExp(`var<storage,\\s*read>(\\s+${name}\\s*:)`);
    if (!declaration.test(out)) {
      throw new Error(
        `core/webgpu_device.ts: ${READ_WRITE_MARKER} names '${name}', but the shader has no ` +
          `read-only storage binding '${name}' to make writable`,
      );
    }
    out = out.replace(declaration, "var<storage, read_write>$1");
  }
  return out;
}

const novalabDevices = new WeakSet<GPUDevice>();

/**
 * True when `backend`'s device was made by novalab's factory, so programs may
 * write their marked inputs ({@linkcode READ_WRITE_MARKER}).
 */
export function hasReadWriteInputs(backend: WebGPUBackend): boolean {
  return novalabDevices.has(backend.device);
}

function quietWaylandProbe(): void {
  try {
    if (!Deno.env.get("XDG_RUNTIME_DIR")) {
      Deno.env.set("XDG_RUNTIME_DIR", Deno.env.get("TMPDIR") ?? "/tmp");
    }
  } catch {
    // no env permission: Mesa may print its harmless warning
  }
}

/** `navigator.gpu.requestAdapter(options)`, or `null` when this Deno has no WebGPU. */
export async function requestWebGpuAdapter(
  options?: GPURequestAdapterOptions,
): Promise<GPUAdapter | null> {
  const gpu = (navigator as { gpu?: GPU }).gpu;
  if (!gpu) return null;
  quietWaylandProbe();
  return await gpu.requestAdapter(options);
}

const adapterNames = new WeakMap<WebGPUBackend, string>();

function adapterName(info: GPUAdapterInfo): string {
  return [info.vendor, info.architecture, info.device, info.description]
    .filter((part) => part).join(" / ") || "unnamed adapter";
}

/**
 * Names the adapter behind `backend` (vendor, architecture, device,
 * description): what keys device-specific caches such as the matmul tilings
 * tuned for it (`kernels/matmul_autotune.ts`).
 */
export function webGpuAdapterName(backend: WebGPUBackend): string {
  const known = adapterNames.get(backend);
  if (known) return known;
  const info = backend.adapterInfo as unknown as { vendor?: string; architecture?: string };
  return [info.vendor, info.architecture].filter((part) => part).join(" / ") || "unnamed adapter";
}

async function createBackend(): Promise<WebGPUBackend> {
  const lowPower = Boolean(tf.env().getBool("WEBGPU_USE_LOW_POWER_GPU"));
  const adapter = await requestWebGpuAdapter({
    powerPreference: lowPower ? "low-power" : "high-performance",
  });
  if (!adapter) throw new Error("core/webgpu_device.ts: navigator.gpu.requestAdapter() gave none");
  const wanted = ["timestamp-query", "bgra8unorm-storage", SHADER_F16] as GPUFeatureName[];
  const limits = adapter.limits;
  const device = await adapter.requestDevice({
    requiredFeatures: wanted.filter((f) => adapter.features.has(f)),
    requiredLimits: {
      maxComputeWorkgroupStorageSize: limits.maxComputeWorkgroupStorageSize,
      maxComputeWorkgroupsPerDimension: limits.maxComputeWorkgroupsPerDimension,
      maxStorageBufferBindingSize: limits.maxStorageBufferBindingSize,
      maxBufferSize: limits.maxBufferSize,
      maxComputeWorkgroupSizeX: limits.maxComputeWorkgroupSizeX,
      maxComputeInvocationsPerWorkgroup: limits.maxComputeInvocationsPerWorkgroup,
      // Programs with extra outputs bind more buffers (e.g. the fused AdamW groups).
      maxStorageBuffersPerShaderStage: limits.maxStorageBuffersPerShaderStage,
    },
  });
  const create = device.createShaderModule.bind(device);
  device.createShaderModule = (descriptor: GPUShaderModuleDescriptor) =>
    create({ ...descriptor, code: applyReadWriteInputs(hoistEnableDirectives(descriptor.code)) });
  novalabDevices.add(device);
  const name = adapter.info.description || adapter.info.device || "unnamed adapter";
  guardDeviceLimits(device, name);
  const backend = new WebGPUBackend(device, adapter.info);
  adapterNames.set(backend, adapterName(adapter.info));
  surfaceDeviceErrors(backend, name);
  if (bindGroupCacheWanted()) {
    installBindGroupCache(backend as unknown as Parameters<typeof installBindGroupCache>[0]);
  }
  if (uniformArenaWanted()) installUniformArena(backend);
  if (eagerReleaseWanted()) installEagerRelease(backend);
  // What every bind group binds, from the first: a step recorded later may reuse cached groups.
  watchBackend(backend);
  return backend;
}

/** Environment switch: `0` keeps tfjs's uniform buffer per dispatch (A/B runs). */
export const UNIFORM_ARENA_ENV = "NOVALAB_UNIFORM_ARENA";

/** Whether novalab's backends pack uniforms per submit (`core/uniform_arena.ts`); default yes. */
export function uniformArenaWanted(): boolean {
  return !envIs(UNIFORM_ARENA_ENV, "0");
}

let registered = false;

/**
 * Replaces tfjs's `webgpu` backend factory with novalab's (idempotent; same
 * priority). Leaves an already initialised webgpu backend alone, so tensors
 * living on it survive; that backend then runs without `shader-f16`.
 */
export function registerWebGpuBackend(): void {
  if (registered || !(navigator as { gpu?: GPU }).gpu) return;
  registered = true;
  // Not tf.findBackend: it would initialise the backend with the factory being replaced.
  const live = (tf.engine() as unknown as { registry: Record<string, unknown> }).registry;
  if (live["webgpu"]) return;
  if (tf.findBackendFactory("webgpu")) tf.removeBackend("webgpu");
  tf.registerBackend("webgpu", createBackend, 3);
}

/** True when the webgpu `backend`'s device has `shader-f16` enabled. */
export function hasShaderF16(backend: WebGPUBackend): boolean {
  return backend.device.features.has(SHADER_F16);
}

/** The tfjs-backend-webgpu 4.22 internals {@linkcode submitPendingWork} touches. */
interface PendingWork {
  commandEncoder: GPUCommandEncoder | null;
  endComputePassEncoder(): void;
  submitQueue(): void;
}

/**
 * Submits the work tfjs has recorded but not yet sent (it submits every
 * `WEBGPU_DEFERRED_SUBMIT_BATCH_SIZE` dispatches and on reads), so the device
 * starts on it now: the end of a training step, whose last dispatches (the
 * optimizer's) would otherwise wait for the next step to fill a batch. Also
 * makes every step split into the same submits, so the buffers in flight, and
 * with them tfjs's buffer pool, are the same from step to step. No-op on other
 * backends and when nothing is pending.
 */
export function submitPendingWork(backend: unknown = tf.backend()): void {
  if (!(backend instanceof WebGPUBackend)) return;
  const b = backend as unknown as PendingWork;
  if (!b.commandEncoder) return;
  b.endComputePassEncoder();
  b.submitQueue();
}
