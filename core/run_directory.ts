/**
 * The run directory of a run: a new one (with the resolved recipe, the
 * environment it ran in and what the model needs to know of its data,
 * `data.json`) or, with `--resume`, an existing one whose latest checkpoint
 * restores the parameters and optimiser state and whose metrics are cut back
 * to that step.
 *
 * @module
 */
import type { BackendInfo } from "./backend.ts";
import { latestCheckpoint, loadCheckpoint } from "./checkpoint_load.ts";
import type { CompiledGraph } from "./graph_run.ts";
import {
  createRunDir,
  createRunDirAt,
  type RunPaths,
  runPaths,
  truncateMetrics,
} from "./rundir.ts";
import type { Trainer } from "./trainer.ts";
import type { RunnableRecipe, RunOptions } from "./run.ts";
import type { DataSource } from "./types.ts";
import { readDataFacts, writeDataFacts } from "./data_facts.ts";

/** What a run records about where it ran (`env.json`). */
function environment(backend: BackendInfo): Record<string, unknown> {
  return {
    novalab: "0.1.0",
    deno: Deno.version,
    os: Deno.build.os,
    arch: Deno.build.arch,
    cpus: navigator.hardwareConcurrency,
    backend,
    started: new Date().toISOString(),
    args: Deno.args,
  };
}

/**
 * Creates the run's directory (`options.runDir`, or a new one under
 * `options.runsDir`) or, with `options.resume`, reopens that run at its latest
 * checkpoint, loading it into `graph` and `trainer`. Returns the paths and the
 * first step to run.
 */
export async function openRunDirectory(
  recipe: RunnableRecipe,
  state: {
    graph: CompiledGraph;
    trainer: Trainer;
    backend: BackendInfo;
    options: RunOptions;
    source: DataSource;
  },
): Promise<{ paths: RunPaths; start: number }> {
  const { graph, trainer, backend, options } = state;
  const files = { recipeYaml: recipe.yaml, env: environment(backend) };
  if (!options.resume) {
    const paths = options.runDir
      ? await createRunDirAt(options.runDir, files)
      : await createRunDir(options.runsDir ?? "runs", { name: recipe.name, ...files });
    await writeDataFacts(paths.root, state.source);
    return { paths, start: 0 };
  }
  const paths = runPaths(options.resume);
  const latest = await latestCheckpoint(paths.checkpoints);
  if (!latest) {
    throw new Error(`--resume ${options.resume}: no checkpoints/latest.json in that run`);
  }
  const { step } = await loadCheckpoint(`${paths.checkpoints}/${latest.file}`, {
    parameters: graph.state(),
    optimizer: trainer.optimizer,
    ...(trainer.average && { average: trainer.average }),
  }, { recipeYaml: recipe.yaml, steps: recipe.train.steps });
  await truncateMetrics(paths, step);
  // Runs made before data.json existed gain it once the resume is known to be theirs.
  if (!(await readDataFacts(paths.root).catch(() => undefined))) {
    await writeDataFacts(paths.root, state.source);
  }
  return { paths, start: step };
}
