/**
 * Registration of novalab's kernels for tfjs's `wasm` backend, under
 * novalab's own kernel names (tfjs's stock kernels stay as they are), done
 * lazily the first time an op needs them. A kernel's function receives the
 * backend's {@linkcode WasmKernels} (generated functions, addresses, views,
 * scratch) and allocates its outputs with `backend.makeOutput`.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { BackendWasm } from "@tensorflow/tfjs-backend-wasm";
import { setWasmKernelsEnabled, type WasmKernels, wasmKernels } from "./wasm_runtime.ts";
import { installLeadingSums, restoreStockSums } from "./wasm_sum.ts";

/** A novalab WASM kernel: name and function of (inputs, attributes, kernels). */
export interface WasmKernelSpec {
  /** tfjs kernel name (`NovalabWasm…`). */
  name: string;
  /** Computes the outputs; allocate them with `k.backend.makeOutput(shape, "float32")`. */
  run(
    inputs: Record<string, tf.TensorInfo>,
    attrs: Record<string, unknown>,
    k: WasmKernels,
  ): tf.TensorInfo | tf.TensorInfo[];
}

const registered = new Set<string>();
let checkScratch = false;

/** Tests: after every novalab WASM kernel, throw if it wrote past its scratch (off by default). */
export function checkScratchGuards(on: boolean): void {
  checkScratch = on;
}
let stockIdentity: tf.KernelConfig | undefined;

/**
 * tfjs clones every tensor an op saves for its gradient (`Identity`), and
 * tfjs-backend-wasm's `Identity` copies the data (tfjs-backend-cpu's shares
 * it). This replaces it with the sharing version — a reference-count
 * increment, exactly what the wasm backend's own `Reshape` does — so saving
 * a tensor for the backward pass costs nothing. Called by
 * {@linkcode registerWasmKernels}; {@linkcode restoreWasmIdentity} undoes it.
 */
export function shareWasmIdentity(): void {
  if (stockIdentity) return;
  const stock = tf.getKernel("Identity", "wasm");
  if (!stock) return;
  stockIdentity = stock;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel({
    kernelName: "Identity",
    backendName: "wasm",
    kernelFunc: ({ inputs, backend }) => {
      const x = inputs.x as tf.TensorInfo;
      if (x.dtype === "string") return stock.kernelFunc({ inputs, backend, attrs: {} });
      (backend as BackendWasm).incRef(x.dataId);
      return { dataId: x.dataId, shape: x.shape, dtype: x.dtype };
    },
  });
}

/** Puts tfjs-backend-wasm's copying `Identity` back (A/B runs). */
export function restoreWasmIdentity(): void {
  if (!stockIdentity) return;
  tf.unregisterKernel("Identity", "wasm");
  tf.registerKernel(stockIdentity);
  stockIdentity = undefined;
}

/**
 * Turns novalab's WASM kernels on or off for this process (A/B runs): off also
 * puts the copying `Identity` and the stock `Sum`/`Mean` back, so the ops run
 * exactly as stock tfjs.
 * `undefined` returns to the environment's choice (`NOVALAB_WASM_KERNELS`).
 */
export function useWasmKernels(on: boolean | undefined): void {
  setWasmKernelsEnabled(on);
  if (on === false) {
    restoreWasmIdentity();
    restoreStockSums();
  }
}

/**
 * Registers `specs` for the wasm backend unless already done (and shares
 * `Identity`, and sums over leading axes in one pass: `kernels/wasm_sum.ts`).
 */
export function registerWasmKernels(specs: WasmKernelSpec[]): void {
  shareWasmIdentity();
  installLeadingSums();
  for (const spec of specs) {
    if (registered.has(spec.name)) continue;
    if (!tf.getKernel(spec.name, "wasm")) {
      tf.registerKernel({
        kernelName: spec.name,
        backendName: "wasm",
        kernelFunc: ({ inputs, attrs, backend }) => {
          const k = wasmKernels(backend as BackendWasm);
          const out = spec.run(
            inputs as Record<string, tf.TensorInfo>,
            (attrs ?? {}) as Record<string, unknown>,
            k,
          );
          if (checkScratch && !k.scratchGuardIntact()) {
            throw new Error(
              `kernels/wasm: ${spec.name} wrote past the scratch it asked for ` +
                `(inputs ${Object.values(inputs).map((t) => `[${t?.shape}]`).join(", ")})`,
            );
          }
          return out;
        },
      });
    }
    registered.add(spec.name);
  }
}

/** Runs kernel `name` on `inputs` through the engine (taped, tracked by `tf.tidy`). */
export function runWasmKernel(
  name: string,
  inputs: Record<string, tf.Tensor>,
  attrs: Record<string, unknown> = {},
): tf.Tensor | tf.Tensor[] {
  return tf.engine().runKernel(name, inputs, attrs as tf.NamedAttrMap) as tf.Tensor | tf.Tensor[];
}

/** Throws unless `t` is float32 (the kernels read and write float32 data only). */
export function requireFloat32(t: tf.TensorInfo, what: string): void {
  if (t.dtype !== "float32") {
    throw new TypeError(`kernels/wasm: ${what} has dtype ${t.dtype}; expected float32`);
  }
}
