/**
 * A saved run's trained weights, loaded into a graph built from its recipe:
 * the latest checkpoint's inference tensors and, when the recipe trains with
 * `train.ema` (and evaluates the averages), the averaged weights swapped in —
 * what `deno task eval`, `deno task predict` and `deno task embed` see.
 *
 * @module
 */
import { latestCheckpoint, loadCheckpoint } from "./checkpoint_load.ts";
import type { CompiledGraph } from "./graph_run.ts";
import type { RunnableRecipe } from "./run.ts";
import { decodeSafetensors } from "./safetensors.ts";
import { EMA_PREFIX, WeightAverage } from "./weight_average.ts";

/** What {@link loadRunWeights} loaded. */
export interface LoadedRunWeights {
  /** The checkpoint file read. */
  file: string;
  /** Its training step. */
  step: number;
  /** The weight average swapped into the graph (`train.ema`); dispose it with the graph. */
  average?: WeightAverage;
}

/** The names of the tensors a checkpoint averages (its `ema.<name>` tensors). */
async function averagedNames(file: string): Promise<Set<string>> {
  const { tensors } = decodeSafetensors(await Deno.readFile(file));
  const names = [...tensors.keys()].filter((k) => k.startsWith(EMA_PREFIX));
  return new Set(names.map((k) => k.slice(EMA_PREFIX.length)));
}

/**
 * Loads the latest checkpoint of a run into `graph`'s inference tensors; with
 * `train.ema` (unless `evaluate: raw`), the averaged values of every tensor the
 * checkpoint averages are swapped in (whatever this recipe trains or freezes:
 * the run averaged what it trained).
 *
 * @param checkpoints The run's `checkpoints/` directory.
 * @param at The recipe the graph was built from, and the graph.
 * @throws When the run has saved no checkpoint, or the recipe asks for averages the run lacks.
 */
export async function loadRunWeights(
  checkpoints: string,
  at: { recipe: RunnableRecipe; graph: CompiledGraph; runDir: string },
): Promise<LoadedRunWeights> {
  const latest = await latestCheckpoint(checkpoints);
  if (!latest) {
    throw new Error(`${at.runDir}: no checkpoints/latest.json; has the run saved a checkpoint?`);
  }
  const file = `${checkpoints}/${latest.file}`;
  const ema = at.recipe.train.ema;
  let average: WeightAverage | undefined;
  if (ema && ema.evaluate !== "raw") {
    const averaged = await averagedNames(file);
    const members = at.graph.inferenceState().filter((p) => averaged.has(p.name));
    if (members.length === 0) {
      throw new Error(
        `${file}: no ema.* tensors: the run was trained without train.ema; use its trained ` +
          `weights with --set train.ema.evaluate=raw (or train.ema=null)`,
      );
    }
    average = new WeightAverage(members, ema);
  }
  try {
    await loadCheckpoint(file, {
      parameters: at.graph.inferenceState(),
      ...(average && { average }),
    });
    average?.swap();
  } catch (e) {
    average?.dispose();
    throw e;
  }
  return { file, step: latest.step, ...(average && { average }) };
}
