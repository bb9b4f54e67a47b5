/**
 * How much GPU memory tfjs's WebGPU pool holds after a short training run of
 * a recipe, with its step replayed or issued as written: the number behind
 * docs/benchmarks.md's "Replayed steps" memory paragraph (diagnostics during
 * training reuse the replayed step's temporaries).
 *
 *   deno run -A tools/replay_memory.ts [--no-replay] [recipe] [--set key=value …]
 *
 * Defaults: `recipes/nova.yaml`, 12 steps of batch 64, diagnostics of 512 test
 * images at batch 256 every 4 steps. Run each form in its own process (the
 * pool keeps what earlier runs in the process freed).
 *
 * @module
 */
import * as tf from "@tensorflow/tfjs";
import { loadRunnable } from "../core/recipe_runnable.ts";
import { runRecipe } from "../core/run.ts";

const DEFAULTS = [
  "data.limit={ train: 1024, test: 512 }",
  "train.steps=12",
  "train.batch=64",
  "eval=[{ kind: diagnostics, image: pred, text: text, every: 4, limit: 512, batch: 256 }]",
];

/** Parses `[--no-replay] [recipe] [--set k=v …]`. */
function parse(args: string[]): { replay: boolean; recipe: string; set: string[] } {
  const out = { replay: true, recipe: "recipes/nova.yaml", set: [...DEFAULTS] };
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--no-replay") out.replay = false;
    else if (a === "--set" && i + 1 < args.length) out.set.push(args[++i]!);
    else if (!a.startsWith("-")) out.recipe = a;
    else {throw new Error(
        `tools/replay_memory.ts: unknown flag ${a}; expected --no-replay or --set`,
      );}
  }
  return out;
}

if (import.meta.main) {
  const { replay, recipe: path, set } = parse(Deno.args);
  const runs = await Deno.makeTempDir({ prefix: "novalab-replay-memory-" });
  try {
    const recipe = await loadRunnable(path, set);
    const result = await runRecipe(recipe, {
      runsDir: runs,
      backend: "webgpu",
      quiet: true,
      skipEval: true,
      skipReport: true,
      replay,
    });
    const pool = (tf.backend() as unknown as { bufferManager: { numBytesAllocated: number } })
      .bufferManager.numBytesAllocated;
    const r = result.replay;
    console.log(
      `${recipe.name}, ${replay ? "replayed" : "as written"}: pool ${
        (pool / 2 ** 20).toFixed(1)
      } MiB` +
        (r
          ? `; ${r.replays} replays, ${r.recordings} recordings${r.reason ? ` (${r.reason})` : ""}`
          : ""),
    );
  } finally {
    await Deno.remove(runs, { recursive: true });
  }
}
