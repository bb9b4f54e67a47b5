/**
 * The Epps–Pulley statistic of every slice, fused on WebGPU: one dispatch
 * forward, one backward (`kernels/epps_pulley_programs.ts`), where the op
 * composition of `losses/epps_pulley.ts` took ~25 dispatches and held
 * `[V, M, N, T]` cosines and sines (chunked) in memory. SIGReg (NOVA, LeJEPA)
 * runs on it whenever novalab's WebGPU kernels are active, and on WASM (at
 * least four slices) with the generated SIMD kernels of
 * `kernels/wasm_epps_pulley.ts` under the same kernel names.
 *
 * Kernels: `NovalabEppsPulley` (input `u` `[V, N, M]`, attrs `t`, `weights`;
 * outputs the statistic `[V, M]` and the backward coefficients `[V, 2T, M]`)
 * and `NovalabEppsPulleyGrad` (inputs `u`, `coef`, `dy`, same attrs; output
 * `du`).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import type { KernelConfig, KernelFunc, NamedAttrMap, TensorInfo } from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import type { Tensor2D, Tensor3D } from "../core/tensor.ts";
import {
  NovalabEppsPulleyGradProgram,
  NovalabEppsPulleyProgram,
  type QuadratureConstants,
} from "./epps_pulley_programs.ts";
import { runWithExtraOutputs } from "./extra_outputs.ts";
import { runCustomGradOp } from "./custom_grad.ts";
import { novalabKernelsActive } from "./active.ts";
import { type WasmKernels, wasmKernelsActive } from "./wasm_runtime.ts";
import { cutRanges } from "./wasm_threads.ts";
import { registerWasmKernels, type WasmKernelSpec } from "./wasm_register.ts";

/** Kernel name of the forward pass. */
export const EPPS_PULLEY = "NovalabEppsPulley";
/** Kernel name of the backward pass. */
export const EPPS_PULLEY_GRAD = "NovalabEppsPulleyGrad";

const WHERE = "kernels/epps_pulley.ts";
/** Nodes compiled into one shader at most (register pressure: two accumulators each). */
export const MAX_NODES = 32;

interface Args {
  inputs: Record<string, TensorInfo | undefined>;
  backend: unknown;
  attrs?: NamedAttrMap;
}

function quadrature(attrs: NamedAttrMap | undefined): QuadratureConstants {
  const t = (attrs?.["t"] ?? []) as number[], weights = (attrs?.["weights"] ?? []) as number[];
  if (
    !Array.isArray(t) || t.length === 0 || t.length > MAX_NODES || t.length !== weights.length ||
    !t.every((x) => Number.isFinite(x)) || !weights.every((x) => Number.isFinite(x))
  ) {
    throw new Error(
      `${WHERE}: the quadrature needs 1–${MAX_NODES} finite nodes t and as many weights, got ` +
        `${t.length} nodes and ${weights.length} weights`,
    );
  }
  return { t, weights };
}

function projections(u: TensorInfo | undefined): [number, number, number] {
  if (!u || u.dtype !== "float32" || u.shape.length !== 3 || u.shape.some((d) => d === 0)) {
    throw new Error(
      `${WHERE}: u must be float32 projections [V, N, M] with no empty axis, got ` +
        (u ? `${u.dtype} [${u.shape.join(", ")}]` : "nothing"),
    );
  }
  return u.shape as [number, number, number];
}

function runForward(args: Args): TensorInfo[] {
  const backend = args.backend as WebGPUBackend;
  const q = quadrature(args.attrs);
  const u = args.inputs["u"];
  const [v, n, m] = projections(u);
  const limit = backend.device.limits.maxComputeWorkgroupsPerDimension;
  return runWithExtraOutputs(
    backend,
    new NovalabEppsPulleyProgram(v, m, limit, q),
    [u!],
    [[v, 2 * q.t.length, m]],
    [
      { type: "int32", data: [v] },
      { type: "int32", data: [n] },
      { type: "int32", data: [m] },
    ],
  );
}

function runGrad(args: Args): TensorInfo {
  const backend = args.backend as WebGPUBackend;
  const q = quadrature(args.attrs);
  const { u, coef, dy } = args.inputs;
  const [v, n, m] = projections(u);
  const expect = (t: TensorInfo | undefined, shape: number[], name: string) => {
    if (!t || t.dtype !== "float32" || !tf.util.arraysEqual(t.shape, shape)) {
      throw new Error(
        `${WHERE}: ${name} must be float32 [${shape.join(", ")}], got ` +
          (t ? `${t.dtype} [${t.shape.join(", ")}]` : "nothing"),
      );
    }
  };
  expect(coef, [v, 2 * q.t.length, m], "coef");
  expect(dy, [v, m], "dy");
  const elements = v * n * m;
  const out = backend.runWebGPUProgram(
    new NovalabEppsPulleyGradProgram(elements, q),
    [{ ...u!, shape: [elements] }, coef!, dy!],
    "float32",
    [
      { type: "int32", data: [elements] },
      { type: "int32", data: [n] },
      { type: "int32", data: [m] },
    ],
  );
  return { ...out, shape: [v, n, m] };
}

/** Kernel configs of both passes (webgpu). */
export function eppsPulleyKernelConfigs(): KernelConfig[] {
  return [
    {
      kernelName: EPPS_PULLEY,
      backendName: "webgpu",
      kernelFunc: runForward as unknown as KernelFunc,
    },
    {
      kernelName: EPPS_PULLEY_GRAD,
      backendName: "webgpu",
      kernelFunc: runGrad as unknown as KernelFunc,
    },
  ];
}

/** The nodes, weights and targets `e^{−t²/2}` in the kernels' scratch; returns its address. */
function wasmQuadrature(q: QuadratureConstants, k: WasmKernels): number {
  const T = q.t.length, at = k.scratch(3 * T);
  const phi = q.t.map((t) => Math.exp(-(t * t) / 2));
  k.floats(at, 3 * T).set([...q.t, ...q.weights, ...phi]);
  return at;
}

/** Sines and cosines below which a pass runs on one thread. */
const MIN_SPLIT_SINCOS = 1 << 16;

/**
 * `fn(...args, c0, c1)` over every slice (`args` ends with M), cut into
 * ranges of slices (multiples of four) over the helper threads when there
 * are any (`kernels/wasm_threads.ts`).
 */
function overSlices(k: WasmKernels, fn: "ep_forward" | "ep_grad", args: number[], work: number) {
  const m = args[args.length - 2]!;
  if (!k.threads || work < MIN_SPLIT_SINCOS || m < 8) return k.fns[fn]!(...args, 0, m);
  k.threads.parallel(
    fn,
    (threads) => cutRanges(m, threads, 4).map(([start, count]) => [...args, start, start + count]),
  );
}

/** Both passes on tfjs's WASM backend (`kernels/wasm_epps_pulley.ts`). */
const WASM_EPPS_PULLEY: WasmKernelSpec[] = [
  {
    name: EPPS_PULLEY,
    run(inputs, attrs, k) {
      const q = quadrature(attrs as NamedAttrMap);
      const [v, n, m] = projections(inputs["u"]);
      const T = q.t.length;
      const stat = k.backend.makeOutput([v, m], "float32");
      const coef = k.backend.makeOutput([v, 2 * T, m], "float32");
      const at = wasmQuadrature(q, k);
      const args = [k.address(inputs["u"]!), k.address(coef), k.address(stat)];
      overSlices(k, "ep_forward", [...args, at, at + 4 * T, at + 8 * T, v, n, m, T], v * n * m * T);
      return [stat, coef];
    },
  },
  {
    name: EPPS_PULLEY_GRAD,
    run(inputs, attrs, k) {
      const q = quadrature(attrs as NamedAttrMap);
      const { u, coef, dy } = inputs;
      const [v, n, m] = projections(u);
      const du = k.backend.makeOutput([v, n, m], "float32");
      const at = wasmQuadrature(q, k);
      const addresses = [u!, coef!, dy!, du].map((t) => k.address(t));
      const T = q.t.length;
      overSlices(k, "ep_grad", [...addresses, at, v, n, m, T], v * n * m * T);
      return du;
    },
  },
];

/** True when {@linkcode fusedEppsPulley} can run on `u` with `nodes` quadrature nodes now. */
export function fusedEppsPulleyActive(u: Tensor3D, nodes: number): boolean {
  const backendReady = novalabKernelsActive() || (wasmKernelsActive() && u.shape[2] >= 4);
  return backendReady && u.dtype === "float32" &&
    nodes <= MAX_NODES &&
    u.shape.every((d) => d > 0);
}

/**
 * The Epps–Pulley statistic `[V, M]` of projections `u` `[V, N, M]` under the
 * quadrature `q` (check {@linkcode fusedEppsPulleyActive} first);
 * differentiable in `u`.
 */
export function fusedEppsPulley(u: Tensor3D, q: QuadratureConstants): Tensor2D {
  if (wasmKernelsActive()) registerWasmKernels(WASM_EPPS_PULLEY);
  const attrs = { t: [...q.t], weights: [...q.weights] };
  return runCustomGradOp<Tensor2D>({
    inputs: { u },
    forwardFunc: (_backend, save) => {
      const [stat, coef] = tf.engine().runKernel(EPPS_PULLEY, { u }, attrs) as Tensor2D[];
      save([u, coef!]); // copies kept for the backward pass
      return stat!;
    },
    backwardsFunc: (dy, saved) => {
      const [su, coef] = saved;
      return {
        u: () =>
          tf.engine().runKernel(EPPS_PULLEY_GRAD, { u: su!, coef: coef!, dy }, attrs) as Tensor3D,
      };
    },
  });
}
