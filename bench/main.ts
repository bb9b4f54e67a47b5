/**
 * Benchmarks (`deno task bench <name>`):
 *
 * - `cpu-vit`: the anchor's tiny ViT step (28 px, patch 4, dim 64, depth 4,
 *   batch 256) on WASM, and the PyTorch anchor on the same CPU in the same run
 *   when `python3` has `torch` (Debian `python3-torch` + `libopenblas0-pthread`);
 *   prints both and the ratio.
 * - `gpu-vit`: the same step on WebGPU (ViT-Ti/16, 224 px, batch 64 by
 *   default), with the CUDA anchor when available; also prints dispatches,
 *   submits and host ms per step. `--compare-kernels` runs the step with
 *   tfjs's stock kernels and with novalab's (`kernels/`) in the same process
 *   (`NOVALAB_STOCK_KERNELS=1` alone selects the stock ones).
 *   `--profile` prints per-kernel milliseconds per step by phase (WASM/CPU:
 *   each kernel's wall time; WebGPU: each dispatch's GPU time from timestamp
 *   queries and its host recording time, `core/gpu_profile.ts`);
 *   `--compare-kernels` alternates tfjs's stock WASM kernels and novalab's
 *   (`NOVALAB_WASM_KERNELS=0` alone keeps the stock ones); `--compare-threads`
 *   alternates novalab's WASM kernels on one thread and on all of them
 *   (`NOVALAB_WASM_THREADS`, `kernels/wasm_threads.ts`).
 * - `matmul`: TFLOP/s of square matmuls (`--size`, every transpose variant)
 *   with tfjs's stock WebGPU kernels and with novalab's, in fp32 and — where
 *   the adapter offers `shader-f16` — with f16 operands.
 * - `train <recipe>`: ms/step and images/s of a recipe's real training step
 *   (at the recipe's `precision:`; `--profile` on WebGPU: GPU time per kernel;
 *   with `train.ema`, the weight average's update time too), `bench/train.ts`.
 *
 * `--precision f16` (cpu-vit, gpu-vit) runs the step with f16 matmul operands.
 *
 * Flags follow the anchor's: `--batch --img --patch --dim --depth --heads --out --steps`.
 *
 * @module
 */
import { stepReplayWanted } from "../core/device_step.ts";
import { Command } from "commander";
import * as tf from "@tensorflow/tfjs";
import type { WebGPUBackend } from "@tensorflow/tfjs-backend-webgpu";
import { applyPrecision, type BackendChoice, initBackend } from "../core/backend.ts";
import type { Precision } from "../kernels/precision.ts";
import { installNovalabKernels, restoreStockKernels } from "../kernels/install.ts";
import { benchVitStep, type VitStepOptions, type VitStepResult } from "./vit_step.ts";
import { printMatMulBench } from "./matmul.ts";
import { formatProfile, profileKernels } from "./kernel_profile.ts";
import { useWasmKernels } from "../kernels/wasm_register.ts";
import { wasmKernels } from "../kernels/wasm_runtime.ts";
import { WASM_THREADS_ENV } from "../kernels/wasm_threads.ts";
import { benchData, formatDataBench } from "./data.ts";
import { benchUpload, formatUploadBench } from "./upload.ts";
import { parseAnchorModes, runAnchor } from "./anchor.ts";
import { benchTrain } from "./train.ts";
import { issueMs, printStep } from "./vit_print.ts";
import { profileGpuDispatches } from "../core/gpu_profile.ts";
import { formatGpuProfile } from "./gpu_profile_format.ts";
import { parseVit, vitOptions } from "./vit_options.ts";

async function vitBench(
  backend: BackendChoice,
  device: "cpu" | "cuda",
  opts: Record<string, string | boolean>,
) {
  const o = parseVit(opts as Record<string, string>);
  // The anchor's MLP is ReLU: a GELU step has nothing like-for-like to compare with.
  const modes = opts.anchor === false || o.activation === "gelu"
    ? []
    : parseAnchorModes(String(opts.anchorModes));
  const info = await initBackend(backend);
  applyPrecision(opts.precision as Precision, info);
  const adapter = info.name === "webgpu" && info.adapter
    ? ` on ${info.adapter.description}${
      info.adapter.isFallback ? " (fallback adapter, not a GPU)" : ""
    }`
    : "";
  const label = (kernels: string) =>
    `novalab-${info.name}${kernels}${adapter}${
      info.precision === "f16" ? " f16 matmuls" : ""
    } vit dim=${o.dim} ${o.activation ?? "relu"} depth=${o.depth} batch=${o.batch} ` +
    `img=${o.img} patch=${o.patch}${o.checkpoint ? " checkpointed" : ""}`;
  let r: VitStepResult;
  if (opts.compareKernels && info.name === "webgpu") {
    restoreStockKernels();
    const stock = await benchVitStep(o);
    printStep(label(" stock kernels"), stock);
    installNovalabKernels();
    r = await benchVitStep(o);
    printStep(label(" novalab kernels"), r);
    const ratio = (a: number, b: number) => `${(a / b).toFixed(2)}×`;
    console.log(
      `stock/novalab: dispatches ${
        ratio(stock.webgpu!.dispatchesPerStep, r.webgpu!.dispatchesPerStep)
      }` +
        `, issuing ms ${ratio(issueMs(stock), issueMs(r))}, step ms ${
          ratio(stock.msPerStep, r.msPerStep)
        }; relative loss difference ${
          (Math.abs(stock.loss - r.loss) / Math.abs(stock.loss)).toExponential(1)
        }`,
    );
  } else if (opts.compareKernels && info.name === "wasm") {
    r = await compareWasm(o, label, WASM_KERNEL_VARIANTS, () => useWasmKernels(undefined));
  } else if (opts.compareThreads && info.name === "wasm") {
    await wasmKernels().threads?.whenStarted();
    r = await compareWasm(o, label, wasmThreadVariants(), () => {});
  } else if (opts.profile && info.name === "webgpu") {
    const profiler = profileGpuDispatches(tf.backend() as WebGPUBackend, {
      shapes: Boolean(opts.profileShapes),
    });
    r = await benchVitStep(o, profiler);
    const stats = await profiler.read();
    profiler.detach();
    printStep(label(" (profiled: a timed pass per dispatch)"), r);
    console.log(formatGpuProfile(stats, o.steps, r.msPerStep));
  } else if (opts.profile) {
    const profiler = profileKernels(undefined, { shapes: Boolean(opts.profileShapes) });
    r = await benchVitStep(o, profiler);
    profiler.detach();
    printStep(label(" (profiled: kernels timed one by one)"), r);
    console.log(formatProfile(profiler.read(), o.steps, r.msPerStep, 25, profiler.wall()));
  } else {
    r = await benchVitStep(o);
    const threads = info.wasm && info.wasm.gemmThreads > 1
      ? ` ${info.wasm.gemmThreads} threads`
      : "";
    printStep(label(info.kernels ? ` ${info.kernels} kernels` : threads), r);
  }
  for (const mode of modes) {
    const anchor = await runAnchor(o, device, mode);
    if (!anchor) return;
    console.log(anchor);
    const ms = Number(anchor.match(/([\d.]+) ms\/step/)?.[1]);
    if (ms) {
      console.log(`ratio novalab/PyTorch ${mode}: ${(r.msPerStep / ms).toFixed(2)}× (step time)`);
    }
  }
}

/** One side of a WASM A/B run: its name and how to put it in force. */
interface WasmVariant {
  /** Printed with each run. */
  name: string;
  /** Puts the variant in force (and the other side's off). */
  use: () => void;
}

/**
 * WASM A/B: the step under two variants (tfjs's stock kernels and novalab's,
 * or one thread and all of them), alternated for three rounds in this process
 * (the machine's load moves between runs); prints each run and the medians,
 * returns the second variant's last run.
 */
async function compareWasm(
  o: VitStepOptions,
  label: (kernels: string) => string,
  [a, b]: [WasmVariant, WasmVariant],
  reset: () => void,
): Promise<VitStepResult> {
  const ms: number[][] = [[], []];
  let last: VitStepResult | undefined, firstLoss = NaN;
  for (let round = 0; round < 3; round++) {
    for (const [i, variant] of [a, b].entries()) {
      variant.use();
      const r = await benchVitStep(o);
      printStep(label(` ${variant.name}, round ${round + 1}`), r);
      ms[i]!.push(r.msPerStep);
      if (i === 0) firstLoss = r.loss;
      else last = r;
    }
  }
  reset();
  const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
  const [ma, mb] = [median(ms[0]!), median(ms[1]!)];
  console.log(
    `medians: ${a.name} ${ma.toFixed(1)} ms/step, ${b.name} ${mb.toFixed(1)} ms/step (${
      (ma / mb).toFixed(2)
    }× faster); relative loss difference ${
      (Math.abs(firstLoss - last!.loss) / Math.abs(firstLoss)).toExponential(1)
    }`,
  );
  return last!;
}

/** The variants of `--compare-kernels` on WASM. */
const WASM_KERNEL_VARIANTS: [WasmVariant, WasmVariant] = [
  { name: "stock kernels", use: () => useWasmKernels(false) },
  { name: "novalab kernels", use: () => useWasmKernels(true) },
];

/** The variants of `--compare-threads`: novalab's kernels on one thread, then on all. */
function wasmThreadVariants(): [WasmVariant, WasmVariant] {
  const threads = wasmKernels().threads;
  if (!threads) {
    throw new Error(
      "bench: --compare-threads needs tfjs's threaded WASM build and more than one thread " +
        `(${WASM_THREADS_ENV} is 1 or this runtime has no shared WebAssembly memory)`,
    );
  }
  return [
    { name: "1 thread", use: () => threads.limit = 1 },
    { name: `${threads.threads} threads`, use: () => threads.limit = Infinity },
  ];
}

const program = new Command("bench").exitOverride();
vitOptions({
  batch: 256,
  img: 28,
  patch: 4,
  dim: 64,
  depth: 4,
  heads: 4,
  out: 64,
  steps: 5,
  anchorModes: "fp32",
})(
  program.command("cpu-vit").description("tiny ViT step on WASM vs PyTorch CPU"),
).action((opts) => vitBench("wasm", "cpu", opts));
vitOptions({
  batch: 64,
  img: 224,
  patch: 16,
  dim: 192,
  depth: 12,
  heads: 3,
  out: 768,
  steps: 10,
  anchorModes: "fp32,amp",
})(
  program.command("gpu-vit").description("ViT step on WebGPU vs PyTorch CUDA"),
).action((opts) => vitBench("webgpu", "cuda", opts));
program.command("matmul").description(
  "matmul TFLOP/s on WebGPU, stock vs novalab kernels: squares, and ViT weight gradients",
)
  .option("--size <n>", "matrix side", "4096")
  .option("--reps <n>", "timed products per variant", "10")
  .option("--grad-dims <list>", "ViT widths whose weight gradients to time (none: skip)", "192,384")
  .option("--tokens <n>", "rows of the weight gradients (batch × tokens per image)", "12608")
  .option("--tile-forms", "also time every form of novalab's 128×128 tile (NOVALAB_MATMUL_TILE)")
  .action(async (opts) => {
    const info = await initBackend("webgpu");
    console.log(
      `matmul ${opts.size}×${opts.size} on ${info.adapter?.description}` +
        (info.adapter?.isFallback ? " (fallback adapter, not a GPU)" : ""),
    );
    await printMatMulBench({
      size: Number.parseInt(opts.size, 10),
      reps: Number.parseInt(opts.reps, 10),
      gradDims: String(opts.gradDims).split(",").filter((d) => d.trim() !== "")
        .map((d) => Number.parseInt(d, 10)),
      tokens: Number.parseInt(opts.tokens, 10),
      tileForms: opts.tileForms === true,
    });
  });
program.command("data").description(
  "decoded + augmented 224 px JPEGs per second: one at a time, concurrent, prefetched, cached",
)
  .option("--images <n>", "JPEGs generated and read per mode", "256")
  .option("--source-size <px>", "side of the generated JPEGs (2048: radiograph-sized)", "256")
  .option("--batch <n>", "batch size", "32")
  .option("--no-augment", "decode only (no augmentation epoch)")
  .action(async (opts) => {
    await initBackend("wasm");
    console.log(formatDataBench(
      await benchData({
        images: Number.parseInt(opts.images, 10),
        sourceSide: Number.parseInt(opts.sourceSize, 10),
        batch: Number.parseInt(opts.batch, 10),
        augment: opts.augment !== false,
      }),
    ));
  });
program.command("upload").description(
  "decoded images to a WebGPU tensor: host ms per batch, floats from the host vs packed integers",
)
  .option("--batch <n>", "images per batch", "64")
  .option("--size <px>", "image side", "224")
  .option("--depth <bits>", "8 or 16", "8")
  .option("--grey", "greyscale images stored with one channel, delivered as RGB")
  .option("--reps <n>", "batches per way", "10")
  .action(async (opts) => {
    await initBackend("webgpu");
    installNovalabKernels();
    const depth = Number(opts.depth);
    if (depth !== 8 && depth !== 16) throw new Error(`--depth must be 8 or 16, got ${opts.depth}`);
    console.log(formatUploadBench(
      await benchUpload({
        batch: Number.parseInt(opts.batch, 10),
        size: Number.parseInt(opts.size, 10),
        depth,
        grey: opts.grey === true,
        reps: Number.parseInt(opts.reps, 10),
      }),
    ));
  });
program.command("train").argument("<recipe>").description("a recipe's training step")
  .option(
    "--set <key=value>",
    "override (repeatable)",
    (v: string, p: string[]) => [...p, v],
    [] as string[],
  )
  .option("--steps <n>", "timed steps", "5")
  .option("--backend <name>", "backend", "auto")
  .option(
    "--profile",
    "time every kernel (WebGPU: GPU time from timestamp queries; WASM/CPU: wall time)",
  )
  .option("--profile-shapes", "with --profile: per kernel and shapes")
  .option(
    "--autotune",
    "webgpu: time matmul tilings, attention/LayerNorm forms after the warm-up step, keep the fastest",
  )
  .option("--no-replay", "webgpu: run every step as written (default: recorded, then replayed)")
  .action((recipePath: string, opts) =>
    benchTrain(recipePath, {
      set: opts.set,
      steps: Number(opts.steps),
      backend: opts.backend as BackendChoice,
      profile: opts.profile === true,
      profileShapes: opts.profileShapes === true,
      autotune: opts.autotune === true,
      replay: opts.replay !== false && stepReplayWanted(),
    })
  );

if (import.meta.main) {
  try {
    await program.parseAsync(Deno.args, { from: "user" });
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith("commander.")) Deno.exit(err.exitCode ?? 1);
    console.error(`error: ${err.message}`);
    Deno.exit(1);
  }
}
