/**
 * What the tests of a trained run used as a model share (`tests/predict_test.ts`,
 * `tests/predict_cli_test.ts`): a few-step CLIP run on MNIST with a weight
 * average, and the first test images written as PNG files.
 *
 * @module
 */
import { initBackend } from "../core/backend.ts";
import { buildRecipe, type RunnableRecipe, runRecipe, type RunResult } from "../core/run.ts";
import { loadSharp } from "../data/sharp.ts";
import { seedTextCache } from "./offline_data.ts";
import { tinyRecipe } from "./tiny_runs.ts";

/** A trained run, its test images as files, and the temporary directory holding both. */
export interface TrainedRunFixture {
  /** The temporary directory (remove it with {@link TrainedRunFixture.remove}). */
  dir: string;
  /** The run's cache directory (`NOVALAB_CACHE` while the fixture lives). */
  cache: string;
  /** The recipe trained. */
  recipe: RunnableRecipe;
  /** The run. */
  run: RunResult;
  /** The first `n` MNIST test images as 8-bit grey PNGs, `<dir>/images/NN.png`. */
  files: string[];
  /** Their labels. */
  labels: number[];
  /** Their pixels as the data source gives them, `[n, 28, 28, 1]` row-major. */
  pixels: Float32Array;
  /** Removes the directory and restores `NOVALAB_CACHE`. */
  remove(): Promise<void>;
}

/**
 * Trains `recipes/clip.yaml` for 6 steps on WASM with `train.ema` (evaluated
 * both ways) and writes its first `n` test images as PNG files.
 */
export async function trainedRun(n: number): Promise<TrainedRunFixture> {
  const dir = await Deno.makeTempDir({ prefix: "novalab-trained-" });
  const cache = `${dir}/cache`;
  await seedTextCache(cache);
  const previous = Deno.env.get("NOVALAB_CACHE");
  Deno.env.set("NOVALAB_CACHE", cache);
  const remove = async () => {
    if (previous === undefined) Deno.env.delete("NOVALAB_CACHE");
    else Deno.env.set("NOVALAB_CACHE", previous);
    await Deno.remove(dir, { recursive: true });
  };
  try {
    await initBackend("wasm");
    const recipe = await tinyRecipe("recipes/clip.yaml", [
      "train.steps=6",
      "backend=wasm",
      "train.ema={ decay: 0.6, evaluate: both }",
    ]);
    const run = await runRecipe(recipe, { runsDir: dir, cacheDir: cache, quiet: true });
    const { graph, source } = await buildRecipe(recipe, cache, { loadInit: false });
    graph.dispose();
    const batch = await source.batch("test", 0, {
      batchSize: n,
      seed: 0,
      shuffle: false,
      dropLast: false,
      hostPixels: true,
    });
    const pixels = await batch.image.data() as Float32Array;
    batch.image.dispose();
    source.dispose();
    const sharp = await loadSharp();
    await Deno.mkdir(`${dir}/images`);
    const files: string[] = [];
    for (let i = 0; i < n; i++) {
      const raw = Uint8Array.from(
        pixels.subarray(i * 784, (i + 1) * 784),
        (v) => Math.round(v * 255),
      );
      const file = `${dir}/images/${String(i).padStart(2, "0")}.png`;
      await sharp(raw, { raw: { width: 28, height: 28, channels: 1 } }).png().toFile(file);
      files.push(file);
    }
    return { dir, cache, recipe, run, files, labels: [...batch.label], pixels, remove };
  } catch (e) {
    await remove();
    throw e;
  }
}
