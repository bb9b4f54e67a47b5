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
 *   (`NOVALAB_WASM_KERNELS=0` alone keeps the stock ones).
 * - `matmul`: TFLOP/s of square matmuls (`--size`, every transpose variant)
 *   with tfjs's stock WebGPU kernels and with novalab's, in fp32 and — where
 *   the adapter offers `shader-f16` — with f16 operands.
 * - `train <recipe>`: ms/step and images/s of a recipe's real training step
 *   (at the recipe's `precision:`; `--profile` on WebGPU: GPU time per kernel),
 *   `bench/train.ts`.
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
import { benchData, formatDataBench } from "./data.ts";
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
    `img=${o.img} patch=${o.patch}`;
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
    r = await compareWasm(o, label);
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
    printStep(label(info.kernels ? ` ${info.kernels} kernels` : ""), r);
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

/**
 * WASM A/B: the step with tfjs's stock kernels and with novalab's WASM kernels,
 * alternated for three rounds in this process (the machine's load moves
 * between runs); prints each run and the medians, returns novalab's last run.
 */
async function compareWasm(
  o: VitStepOptions,
  label: (kernels: string) => string,
): Promise<VitStepResult> {
  const ms: Record<"stock" | "novalab", number[]> = { stock: [], novalab: [] };
  let last: VitStepResult | undefined, stockLoss = NaN;
  for (let round = 0; round < 3; round++) {
    for (const kind of ["stock", "novalab"] as const) {
      useWasmKernels(kind === "novalab");
      const r = await benchVitStep(o);
      printStep(label(` ${kind} kernels, round ${round + 1}`), r);
      ms[kind].push(r.msPerStep);
      if (kind === "stock") stockLoss = r.loss;
      else last = r;
    }
  }
  useWasmKernels(undefined);
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
  const [s, n] = [median(ms.stock), median(ms.novalab)];
  console.log(
    `medians: stock ${s.toFixed(1)} ms/step, novalab ${n.toFixed(1)} ms/step (${
      (s / n).toFixed(2)
    }× faster); relative loss difference ${
      (Math.abs(stockLoss - last!.loss) / Math.abs(stockLoss)).toExponential(1)
    }`,
  );
  return last!;
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
  "decoded + augmented 224 px JPEGs per second, with and without prefetch",
)
  .action(async () => {
    await initBackend("wasm");
    console.log(formatDataBench(await benchData()));
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
  .option("--profile", "WebGPU: GPU time of every kernel (timestamp queries)")
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
