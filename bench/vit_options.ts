/**
 * The command-line flags of `deno task bench gpu-vit` and `cpu-vit` (the
 * anchor's model and batch flags, plus novalab's switches) and their parsing
 * into {@linkcode VitStepOptions}.
 *
 * @module
 */
import { type Command, Option } from "commander";
import { PRECISIONS } from "../kernels/precision.ts";
import { defaultCacheDir } from "../core/run.ts";
import type { VitStepOptions } from "./vit_step.ts";

/** Adds the ViT bench's flags, with `defaults`, to a command. */
export function vitOptions(defaults: VitStepOptions & { anchorModes: string }) {
  return (cmd: Command) =>
    cmd.option("--batch <n>", "images per step", String(defaults.batch))
      .option("--img <n>", "image side", String(defaults.img))
      .option("--patch <n>", "patch side", String(defaults.patch))
      .option("--dim <n>", "width", String(defaults.dim))
      .option("--depth <n>", "blocks", String(defaults.depth))
      .option("--heads <n>", "heads", String(defaults.heads))
      .addOption(
        new Option("--activation <name>", "MLP activation (the anchor's is relu; gelu: no anchor)")
          .choices(["relu", "gelu"]).default("relu"),
      )
      .option("--out <n>", "projection width", String(defaults.out))
      .option("--steps <n>", "timed steps", String(defaults.steps))
      .option("--no-anchor", "skip the PyTorch anchor")
      .option(
        "--sync-every-step",
        "read the loss after every step (default: only the last, like the anchor)",
      )
      .option(
        "--anchor-modes <list>",
        "anchor precisions to run, comma-separated: fp32, amp (bf16 + fused attention)",
        defaults.anchorModes,
      )
      .option(
        "--compare-kernels",
        "run with tfjs's stock kernels, then novalab's (WASM: alternated, 3 rounds)",
      )
      .option(
        "--compare-threads",
        "wasm: novalab's kernels on one thread, then on all (NOVALAB_WASM_THREADS), alternated, 3 rounds",
      )
      .addOption(
        new Option("--precision <p>", "matmul operands (f16: WebGPU with shader-f16)")
          .choices([...PRECISIONS]).default("fp32"),
      )
      .option(
        "--profile",
        "per-kernel milliseconds per step by phase (WebGPU: GPU time from timestamp queries)",
      )
      .option("--profile-shapes", "with --profile: per kernel and input shapes")
      .option(
        "--autotune",
        "webgpu: time matmul tilings and attention/LayerNorm forms after warm-up, keep the fastest",
      )
      .option(
        "--replay",
        "webgpu: record the step once and replay its dispatches (no tfjs work per step)",
      )
      .option(
        "--checkpoint",
        "activation checkpointing: blocks recompute in the backward pass (the anchor does not)",
      );
}

/** The flags commander parsed, as the step's options. */
export function parseVit(opts: Record<string, string>): VitStepOptions {
  const n = (k: string) => Number.parseInt(opts[k]!, 10);
  return {
    batch: n("batch"),
    img: n("img"),
    patch: n("patch"),
    dim: n("dim"),
    depth: n("depth"),
    heads: n("heads"),
    activation: opts["activation"] === "gelu" ? "gelu" : "relu",
    out: n("out"),
    steps: n("steps"),
    syncEveryStep: opts["syncEveryStep"] as unknown === true,
    ...(opts["autotune"] as unknown === true && { autotune: { cacheDir: defaultCacheDir() } }),
    ...(opts["replay"] as unknown === true && { replay: true }),
    ...(opts["checkpoint"] as unknown === true && { checkpoint: true }),
  };
}
