/**
 * A recipe trained twice on WebGPU in a fresh temporary directory, its steps
 * issued as written and then recorded and replayed (`core/device_step.ts`),
 * quietly and without evaluation: what the replay tests of recipe features
 * compare.
 */
import { type RunnableRecipe, runRecipe, type RunResult } from "../core/run.ts";
import { seedTextCache } from "./offline_data.ts";

/** Both runs of `recipe` under a new directory with `prefix` (the caller removes `dir`). */
export async function writtenAndReplayed(
  recipe: RunnableRecipe,
  prefix: string,
): Promise<{ dir: string; written: RunResult; replayed: RunResult }> {
  const dir = await Deno.makeTempDir({ prefix });
  await seedTextCache(`${dir}/cache`);
  const options = {
    runsDir: dir,
    cacheDir: `${dir}/cache`,
    backend: "webgpu" as const,
    quiet: true,
    skipEval: true,
    skipReport: true,
  };
  const written = await runRecipe(recipe, { ...options, replay: false });
  const replayed = await runRecipe(recipe, { ...options, replay: true });
  return { dir, written, replayed };
}
