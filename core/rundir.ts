/**
 * Run directories: `runs/<name>-<time>/` (or a directory named by the caller,
 * such as a sweep member's) holding the resolved recipe
 * (`recipe.yaml`), the environment (`env.json`), what the model knows of its
 * data (`data.json`, `core/data_facts.ts`), `metrics.jsonl`,
 * `checkpoints/`, `eval.json` and failure reports. Every whole-file write is
 * atomic (temp + rename); metrics are appended line by line.
 *
 * @module
 */
import { writeFileAtomic, writeJsonAtomic } from "./atomic.ts";

/** Paths inside a run directory. */
export interface RunPaths {
  /** The run directory itself. */
  root: string;
  /** Resolved recipe (YAML). */
  recipe: string;
  /** Environment: versions, backend, adapter. */
  env: string;
  /** One JSON object per logged step. */
  metrics: string;
  /** Checkpoint folder. */
  checkpoints: string;
  /** Final evaluation results. */
  eval: string;
  /** Written when training stops on non-finite values. */
  failure: string;
  /** The choices `--autotune` made for this run (WebGPU): tilings and attention forms. */
  autotune: string;
}

/** The paths of the run directory `root`. */
export function runPaths(root: string): RunPaths {
  return {
    root,
    recipe: `${root}/recipe.yaml`,
    env: `${root}/env.json`,
    metrics: `${root}/metrics.jsonl`,
    checkpoints: `${root}/checkpoints`,
    eval: `${root}/eval.json`,
    failure: `${root}/failure.json`,
    autotune: `${root}/autotune.json`,
  };
}

/** `YYYYMMDD-HHMMSS` in UTC, used in run directory names. */
export function timestamp(date: Date = new Date()): string {
  return date.toISOString().replace(/[-:]/g, "").replace("T", "-").slice(0, 15);
}

/** Creates `<parent>/<name>-<time>/` (suffixing `-2`, `-3`… if taken) with its files. */
export async function createRunDir(
  parent: string,
  options: { name: string; recipeYaml: string; env: Record<string, unknown> },
): Promise<RunPaths> {
  await Deno.mkdir(parent, { recursive: true });
  const base = `${parent}/${options.name}-${timestamp()}`;
  let root = base;
  for (let i = 2;; i++) {
    try {
      await Deno.mkdir(root);
      break;
    } catch (e) {
      if (!(e instanceof Deno.errors.AlreadyExists)) throw e;
      root = `${base}-${i}`;
    }
  }
  return await populateRunDir(root, options);
}

async function populateRunDir(
  root: string,
  options: { recipeYaml: string; env: Record<string, unknown> },
): Promise<RunPaths> {
  const paths = runPaths(root);
  await Deno.mkdir(paths.checkpoints, { recursive: true });
  await writeFileAtomic(paths.recipe, options.recipeYaml);
  await writeJsonAtomic(paths.env, options.env);
  return paths;
}

/**
 * Makes `root` itself the run directory (a sweep member's `members/<id>/`),
 * creating it and its parents. Files other than `status.json` (which the
 * sweep runner owns) must not exist yet: a fresh run never appends to another
 * run's metrics; continue a run with `--resume` instead.
 */
export async function createRunDirAt(
  root: string,
  options: { recipeYaml: string; env: Record<string, unknown> },
): Promise<RunPaths> {
  await Deno.mkdir(root, { recursive: true });
  const taken: string[] = [];
  for await (const entry of Deno.readDir(root)) {
    if (entry.name !== "status.json") taken.push(entry.name);
  }
  if (taken.length > 0) {
    throw new Error(
      `run directory ${root} already holds ${taken.sort().join(", ")}; ` +
        `expected a new or empty directory (continue a run with --resume ${root})`,
    );
  }
  return await populateRunDir(root, options);
}

/** Appends one JSON line to `metrics.jsonl`. */
export async function appendMetrics(
  paths: RunPaths,
  record: Record<string, unknown>,
): Promise<void> {
  await Deno.writeTextFile(paths.metrics, JSON.stringify(record) + "\n", { append: true });
}

/** Reads `metrics.jsonl` (empty when absent); malformed lines are an error naming the line. */
export async function readMetrics(paths: RunPaths): Promise<Record<string, unknown>[]> {
  let text: string;
  try {
    text = await Deno.readTextFile(paths.metrics);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return [];
    throw e;
  }
  return text.split("\n").filter((l) => l.trim()).map((line, i) => {
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`${paths.metrics}:${i + 1}: not a JSON object (truncated write?)`);
    }
  });
}

/**
 * Keeps only metric lines with `step < nextStep` (a resumed run rewrites the
 * steps after its checkpoint) and drops a trailing partial line.
 */
export async function truncateMetrics(paths: RunPaths, nextStep: number): Promise<void> {
  let text: string;
  try {
    text = await Deno.readTextFile(paths.metrics);
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return;
    throw e;
  }
  const kept = text.split("\n").filter((line) => {
    try {
      const record = JSON.parse(line);
      return typeof record.step !== "number" || record.step < nextStep;
    } catch {
      return false;
    }
  });
  await writeFileAtomic(paths.metrics, kept.map((l) => l + "\n").join(""));
}
