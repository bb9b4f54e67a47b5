/**
 * Embeds a recipe's test split through its inference graph on WebGPU, with
 * the forward calls replayed (`core/inference_replay.ts`) or as written, and
 * prints the wall time and how each call form ran: the measurement behind
 * docs/benchmarks.md's "Evaluation replayed" (host time per call under
 * `deno run --cpu-prof`).
 *
 *   deno run -A [--cpu-prof] tools/eval_replay.ts [--no-replay] [recipe] [--node name]
 *     [--text name] [--set key=value …]
 *
 * Defaults: `recipes/nova.yaml`, its image node `pred`, 2048 test images at
 * batch 256; `--text` also embeds the captions through that node (the calls
 * then alternate, as in an evaluation). Prints the growth of tfjs's pool.
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { initBackend } from "../core/backend.ts";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { buildRecipe, defaultCacheDir } from "../core/run.ts";
import type { ReplayedInference } from "../core/inference_replay.ts";
import { embedSplit } from "../eval/features.ts";
import { installNovalabKernels } from "../kernels/install.ts";

if (import.meta.main) {
  const args = [...Deno.args];
  const replay = !args.includes("--no-replay");
  const set = ["data.limit={ train: 64, test: 2048 }"];
  let path = "recipes/nova.yaml", node = "pred", text: string | undefined;
  for (let i = 0; i < args.length; i++) {
    if (args[i] === "--set" && i + 1 < args.length) set.push(args[++i]!);
    else if (args[i] === "--node" && i + 1 < args.length) node = args[++i]!;
    else if (args[i] === "--text" && i + 1 < args.length) text = args[++i]!;
    else if (!args[i]!.startsWith("-")) path = args[i]!;
  }
  await initBackend("webgpu");
  installNovalabKernels();
  const recipe = await loadRunnable(path, set);
  const { graph, source } = await buildRecipe(recipe, defaultCacheDir());
  const model = graph.inference({ seed: recipe.seed, replay });
  const pool = () =>
    (tf.backend() as unknown as { bufferManager: { numBytesAllocated: number } }).bufferManager
      .numBytesAllocated / 2 ** 20;
  const poolBefore = pool();
  const started = performance.now();
  const e = await embedSplit(model, source, {
    split: "test",
    image: node,
    ...(text && { text }),
    batch: 256,
    who: "eval",
  });
  const ms = performance.now() - started;
  console.log(
    `${recipe.name}: ${e.labels.length} images embedded in ${ms.toFixed(0)} ms (${
      replay ? "replayed" : "as written"
    }); pool ${poolBefore.toFixed(2)} → ${pool().toFixed(2)} MiB`,
  );
  for (const [key, s] of Object.entries((model as Partial<ReplayedInference>).stats ?? {})) {
    console.log(
      `  ${key}: ${s.mode}, ${s.replays} replays, ${s.recordings} recordings, ${s.dispatches} dispatches`,
    );
  }
  model.dispose?.();
  graph.dispose();
  source.dispose();
}
