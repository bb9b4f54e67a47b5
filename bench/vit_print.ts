/**
 * Printing of a ViT step benchmark (`bench/vit_step.ts`) for `deno task bench
 * cpu-vit | gpu-vit`.
 *
 * @module
 */
import { gpuMemoryFlat, type VitStepResult } from "./vit_step.ts";

/** Host milliseconds per step outside submits: building the step and recording its dispatches. */
export function issueMs(r: VitStepResult): number {
  return r.hostMsPerStep - (r.webgpu?.submitMsPerStep ?? 0);
}

/**
 * Prints a ViT step benchmark: time, images/s, loss and tensors; on WebGPU
 * its GPU memory (flat or growing), dispatches, submits and host time.
 */
export function printStep(label: string, r: VitStepResult): void {
  console.log(
    `${label}: ${r.msPerStep.toFixed(1)} ms/step, ${r.imagesPerSecond.toFixed(1)} images/s, loss ${
      r.loss.toFixed(4)
    }, tensors ${r.tensors.join("→")}`,
  );
  for (const line of r.autotune ?? []) console.log(`  ${line}`);
  if (r.replay) {
    const p = r.replay;
    console.log(
      p.mode === "replaying"
        ? `  replayed: ${p.replays} steps, ${p.dispatches} dispatches and ${p.submits} submit${
          p.submits === 1 ? "" : "s"
        } ` +
          `each, recorded ${p.recordings} times`
        : `  not replayed (${p.mode}): ${p.reason}`,
    );
  }
  if (r.gpuMemory) {
    const { liveBytes: live, pooledBytes: pool, peakPooledBytes: peak } = r.gpuMemory;
    const mib = (b: number) => (b / 2 ** 20).toFixed(1);
    console.log(
      `  GPU memory: live tensors ${mib(live[0])} → ${mib(live[1])} MiB, buffer pool ` +
        `${mib(pool[0])} → ${mib(pool[1])} MiB (peak ${
          mib(peak)
        }) from before the first to after ` +
        `the last timed step: ${gpuMemoryFlat(r.gpuMemory) ? "flat" : "GROWING"}`,
    );
  }
  if (!r.webgpu) return;
  const w = r.webgpu;
  console.log(
    `  ${+w.dispatchesPerStep.toFixed(1)} dispatches/step, ${+w.submitsPerStep.toFixed(2)} ` +
      `submits/step; host ` +
      `${r.hostMsPerStep.toFixed(1)} ms/step = ${w.submitMsPerStep.toFixed(1)} inside submits + ` +
      `${issueMs(r).toFixed(1)} issuing (${(issueMs(r) / w.dispatchesPerStep * 1000).toFixed(0)} ` +
      `µs/dispatch)`,
  );
  console.log(`  by program: ${w.byProgram.map(([p, n]) => `${p} ${n}`).join(", ")}`);
}
