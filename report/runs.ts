/**
 * Run directories made by `deno task run` (not a sweep) read as sweep results,
 * so that `deno task report` tabulates seeds run by hand: each run is one
 * member, runs group into variants by their recipe name (`name:`, or
 * `--set name=…`), and the table gives mean ± std over their seeds as for a
 * sweep. A run is `done` when it has `eval.json`, `failed` when it has
 * `failure.json`, else `running` (still going, or stopped before evaluating).
 *
 * @module
 */
import { basename, join } from "node:path";
import { parse } from "yaml";
import type { MemberResult, MemberStatus, SweepMetric, SweepResults } from "./collect.ts";
import { groupByVariant } from "./collect.ts";

/** A `--metric` value: `<evaluator>.<metric>`, optionally `:lower` (default higher is better). */
export function parseMetricOption(text: string): SweepMetric {
  const [key, better] = text.split(":");
  if (!key || !/^[^.]+\..+$/.test(key) || (better && better !== "lower" && better !== "higher")) {
    throw new Error(
      `--metric ${JSON.stringify(text)}: expected <evaluator>.<metric>[:lower|:higher], ` +
        "e.g. zero_shot.top1 or diagnostics.gap:lower",
    );
  }
  return { label: key, key, better: better === "lower" ? "lower" : "higher" };
}

async function readJson(path: string): Promise<unknown> {
  try {
    return JSON.parse(await Deno.readTextFile(path));
  } catch (e) {
    if (e instanceof Deno.errors.NotFound) return undefined;
    throw new Error(`${path}: ${(e as Error).message}`);
  }
}

async function isRun(dir: string): Promise<boolean> {
  try {
    return (await Deno.stat(join(dir, "recipe.yaml"))).isFile;
  } catch {
    return false;
  }
}

/** The run directories among `paths`: each a run (has `recipe.yaml`) or a folder of runs. */
export async function findRunDirs(paths: string[]): Promise<string[]> {
  const out: string[] = [];
  for (const path of paths) {
    if (await isRun(path)) {
      out.push(path);
      continue;
    }
    const inside: string[] = [];
    try {
      for await (const e of Deno.readDir(path)) {
        if (e.isDirectory && await isRun(join(path, e.name))) inside.push(join(path, e.name));
      }
    } catch (e) {
      throw new Error(`${path}: ${(e as Error).message}`);
    }
    if (inside.length === 0) {
      throw new Error(
        `${path}: not a sweep directory (no sweep.json) nor a run directory (no recipe.yaml), ` +
          "and holds no run directories; give a sweep directory, run directories " +
          "(runs/<name>-<time>) or a folder of them",
      );
    }
    out.push(...inside.sort());
  }
  return out;
}

/** One run as a member: its recipe name and seed, its state and evaluation. */
async function readRun(dir: string, index: number): Promise<MemberResult> {
  const recipe = parse(await Deno.readTextFile(join(dir, "recipe.yaml"))) as {
    name?: unknown;
    seed?: unknown;
  };
  const name = typeof recipe?.name === "string" ? recipe.name : basename(dir);
  const seed = typeof recipe?.seed === "number" ? recipe.seed : 0;
  const id = basename(dir);
  const member = {
    index,
    id,
    variant: name,
    recipe: name,
    recipe_file: join(dir, "recipe.yaml"),
    toggle: null,
    grid: {},
    seed,
    sets: [],
  };
  const evaluation = await readJson(join(dir, "eval.json"));
  const failure = await readJson(join(dir, "failure.json")) as { reason?: string } | undefined;
  if (evaluation && typeof evaluation === "object") {
    const status: MemberStatus = {
      state: "done",
      eval: evaluation as MemberStatus["eval"],
    };
    return { member, state: "done", status };
  }
  if (failure) {
    const error = `failure.json: ${JSON.stringify(failure).slice(0, 200)}`;
    return { member, state: "failed", status: { state: "failed", error }, error };
  }
  return { member, state: "running", status: { state: "running" } };
}

/** Headline metrics, most preferred first, and those where lower is better. */
const HEADLINE = ["top1", "auroc", "i2t_r1", "gap"];
const LOWER = new Set(["gap", "i2t_median_rank", "t2i_median_rank", "collapse"]);
/** Counts and sizes, never a default column. */
const COUNTS = new Set(["n", "n_train", "n_val", "gallery", "k"]);

/**
 * Default columns: per evaluator of the finished runs, its headline metric
 * (`top1`, `auroc`, `i2t_r1`, `gap`, first found), else its first metric that
 * is not a count (in first-seen order).
 */
function defaultMetrics(members: MemberResult[]): SweepMetric[] {
  const keys: string[] = [];
  for (const m of members) {
    for (const [evaluator, metrics] of Object.entries(m.status?.eval ?? {})) {
      const numeric = Object.keys(metrics).filter((k) =>
        typeof metrics[k] === "number" && !COUNTS.has(k)
      );
      const pick = HEADLINE.find((k) => numeric.includes(k)) ?? numeric[0];
      const key = pick && `${evaluator}.${pick}`;
      if (key && !keys.includes(key)) keys.push(key);
    }
  }
  return keys.map((key) => ({
    label: key,
    key,
    better: LOWER.has(key.slice(key.indexOf(".") + 1)) ? "lower" : "higher",
  }));
}

/**
 * Reads run directories (or folders of them) as {@link SweepResults}.
 *
 * @param paths Run directories, or folders holding run directories.
 * @param options `metrics`: the columns (default: each evaluator's `top1`, else its first metric).
 */
export async function collectRuns(
  paths: string[],
  options: { metrics?: SweepMetric[] } = {},
): Promise<SweepResults> {
  const dirs = await findRunDirs(paths);
  const members = await Promise.all(dirs.map((dir, i) => readRun(dir, i)));
  const ids = members.map((m) => m.member.id);
  const twice = ids.find((id, i) => ids.indexOf(id) !== i);
  if (twice) throw new Error(`two run directories are both named ${twice}; report them apart`);
  const metrics = options.metrics?.length ? options.metrics : defaultMetrics(members);
  return {
    dir: paths.length === 1 ? paths[0]! : ".",
    manifest: {
      name: "runs",
      file: "",
      factors: [],
      toggles: {},
      metrics,
      members: members.map((m) => m.member),
    },
    members,
    variants: groupByVariant(members),
    warnings: [],
  };
}
