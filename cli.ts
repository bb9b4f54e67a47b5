/**
 * The novalab command line: `run | validate | graph | eval | predict | embed | search | sweep |
 * report | cache`.
 *
 * ```sh
 * deno task run recipes/nova.yaml [--set train.steps=100] [--backend wasm] [--resume runs/nova-…]
 * deno task validate recipes/nova.yaml     # prints the resolved recipe
 * deno task graph recipes/nova.yaml        # prints the training graph as Mermaid with shapes
 * deno task eval runs/nova-…               # evaluates a run's latest checkpoint
 * deno task predict runs/clip-… images/     # zero-shot classes of image files
 * deno task embed runs/clip-… --images images/ --out emb.safetensors
 * deno task search runs/clip-… images/ --query "a handwritten seven"
 * deno task sweep recipes/sweeps/nova_lambda.yaml [--shard 0/4] [--dry-run]
 * deno task report runs/sweeps/nova_lambda [--out dir]   # table (Markdown, CSV) and plots
 * deno task cache recipes/nova_mimic.yaml  # decode every image into data.cache before training
 * ```
 *
 * @module
 */
import { Command, Option } from "commander";
import { BACKEND_CHOICES, type BackendChoice, initBackend } from "./core/backend.ts";
import "./core/builtins.ts";
import { renderMermaid } from "./core/mermaid.ts";
import { buildRecipe, defaultCacheDir, runRecipe } from "./core/run.ts";
import { evaluateRun } from "./core/evaluate_run.ts";
import { addInferenceCommands } from "./cli_inference.ts";
import { addSearchCommand } from "./cli_search.ts";
import { stepReplayWanted } from "./core/device_step.ts";
import { formatRecipeYaml, loadRunnable } from "./core/recipe_runnable.ts";
import { formatCacheStats } from "./data/decoded_cache_use.ts";
import { warmRecipeCaches } from "./core/warm_recipe.ts";
import { writeRunsReport, writeSweepReport } from "./report/write.ts";
import { parseMetricOption } from "./report/runs.ts";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseShard } from "./sweep/expand.ts";
import { formatMemberTable } from "./sweep/format.ts";
import { prepareSweep } from "./sweep/prepare.ts";
import { runSweep } from "./sweep/run.ts";
import { defaultSweepDir } from "./sweep/status.ts";

function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

const setOption = () =>
  new Option("--set <key=value>", "override a recipe value (repeatable), e.g. train.steps=100")
    .argParser(collect).default([]);
const backendOption = () =>
  new Option("--backend <name>", "tensor backend").choices([...BACKEND_CHOICES]);

function printMetrics(results: Record<string, Record<string, number>>): void {
  for (const [name, metrics] of Object.entries(results)) {
    const text = Object.entries(metrics)
      .map(([k, v]) => `${k} ${Number.isInteger(v) ? v : v.toFixed(4)}`).join("  ");
    console.log(`${name}: ${text}`);
  }
}

/** Builds the commander program (exported for tests). */
export function buildProgram(): Command {
  const program = new Command("novalab")
    .description("vision–language alignment recipes: train, validate, graph, evaluate")
    .showHelpAfterError()
    .exitOverride();

  program.command("run").argument("[recipe]", "recipe YAML file")
    .description("train a recipe, then evaluate it; writes runs/<name>-<time>/")
    .addOption(setOption()).addOption(backendOption())
    .option("--resume <run-dir>", "continue a run from its latest checkpoint")
    .option("--runs <dir>", "parent directory of run directories", "runs")
    .option("--quiet", "no progress output")
    .option(
      "--autotune",
      "webgpu: time matmul tilings and attention/LayerNorm forms after step 1, keep the fastest",
    )
    .option(
      "--no-replay",
      "webgpu: run every training step and evaluation call as written (default: record them, " +
        "then replay them without tfjs's per-op host work)",
    )
    .action(async (recipePath: string | undefined, opts) => {
      if (opts.resume && (recipePath !== undefined || opts.set.length > 0)) {
        const extra = recipePath !== undefined
          ? `the recipe ${recipePath}`
          : `--set ${opts.set[0]}`;
        throw new Error(
          `run --resume ${opts.resume}: a resumed run trains with the recipe.yaml in its ` +
            `directory (what its checkpoints were made with), so ${extra} is not taken; to ` +
            `change a setting that leaves the model as it is (data.dir on another machine), ` +
            `edit ${opts.resume}/recipe.yaml, else start a new run`,
        );
      }
      const source = recipePath ?? (opts.resume ? `${opts.resume}/recipe.yaml` : undefined);
      if (!source) throw new Error("run: name a recipe file, or --resume <run-dir>");
      const recipe = await loadRunnable(source, opts.set);
      const result = await runRecipe(recipe, {
        runsDir: opts.runs,
        resume: opts.resume,
        backend: opts.backend as BackendChoice | undefined,
        quiet: opts.quiet,
        ...(opts.autotune ? { autotune: true } : {}),
        ...(opts.replay === false ? { replay: false } : {}),
      });
      console.log(`run directory: ${result.paths.root}`);
      console.log(`backend: ${result.backend.name}; ${result.imagesPerSecond.toFixed(0)} images/s`);
      printMetrics(result.eval);
    });

  program.command("validate").argument("<recipe>", "recipe YAML file")
    .description("validate a recipe and print it fully resolved")
    .addOption(setOption())
    .action(async (recipePath: string, opts) => {
      console.log(formatRecipeYaml(await loadRunnable(recipePath, opts.set)));
    });

  program.command("cache").argument("<recipe>", "recipe YAML file")
    .description(
      "decode every image of the recipe's data source into its decoded-image cache " +
        "(data.cache), so training reads from the first epoch on; evaluators' own data " +
        "(eval[i].data with cache) too, the splits they read",
    )
    .addOption(setOption())
    .option("--splits <names>", "comma-separated splits of data: (default: every split)")
    .action(async (recipePath: string, opts) => {
      const recipe = await loadRunnable(recipePath, opts.set);
      await initBackend("cpu");
      const warmed = await warmRecipeCaches(recipe, {
        splits: opts.splits?.split(",").map((s: string) => s.trim()),
        onProgress: (entry, split, done, total) =>
          Deno.stderr.writeSync(
            new TextEncoder().encode(
              `\r${entry} ${split}: ${done}/${total} images${done >= total ? "\n" : ""}`,
            ),
          ),
      });
      for (const { entry, splits, stats } of warmed) {
        const prefix = entry === "data" ? "" : `${entry} `;
        for (const s of splits) {
          console.log(
            `${prefix}${s.split}: ${s.images} images in ${s.seconds.toFixed(1)} s ` +
              `(${(s.images / Math.max(s.seconds, 1e-9)).toFixed(0)} images/s)`,
          );
        }
        console.log(`${prefix}${formatCacheStats(stats)}`);
      }
    });

  program.command("graph").argument("<recipe>", "recipe YAML file")
    .description("compile a recipe (dry run on a tiny batch) and print its graph as Mermaid")
    .addOption(setOption()).addOption(backendOption())
    .action(async (recipePath: string, opts) => {
      const recipe = await loadRunnable(recipePath, opts.set);
      await initBackend((opts.backend as BackendChoice | undefined) ?? "cpu");
      const { graph, source } = await buildRecipe(recipe, defaultCacheDir());
      console.log(renderMermaid(graph));
      graph.dispose();
      source.dispose();
    });

  program.command("eval").argument("<run-dirs...>", "run directories (e.g. a sweep's members/*)")
    .description(
      "evaluate each run's latest checkpoint with the inference graph (no training); " +
        "one run failing does not stop the others",
    )
    .addOption(setOption()).addOption(backendOption())
    .option("--recipe <file>", "recipe to evaluate with (default: each run's recipe.yaml)")
    .option("--no-replay", "webgpu: run every evaluation call as written (default: replayed)")
    .action(async (runDirs: string[], opts) => {
      const failed: string[] = [];
      for (const runDir of runDirs) {
        if (runDirs.length > 1) console.log(`== ${runDir}`);
        try {
          const { results, report } = await evaluateRun(runDir, {
            recipe: opts.recipe,
            overrides: opts.set,
            backend: opts.backend as BackendChoice | undefined,
            replay: opts.replay !== false && stepReplayWanted(),
          });
          printMetrics(results);
          console.log(`report: ${report}`);
        } catch (e) {
          if (runDirs.length === 1) throw e;
          const message = (e as Error).message;
          console.error(message.startsWith(runDir) ? message : `${runDir}: ${message}`);
          failed.push(runDir);
        }
      }
      if (failed.length > 0) {
        throw new Error(
          `eval failed for ${failed.length} of ${runDirs.length} runs: ${failed.join(", ")}`,
        );
      }
    });
  addInferenceCommands(program);
  addSearchCommand(program);
  addSweepCommand(program);
  addReportCommand(program);
  return program;
}

function addReportCommand(program: Command): void {
  program.command("report").argument(
    "<dirs...>",
    "a sweep directory (holds sweep.json), or run directories / folders of them",
  )
    .description(
      "table (mean ± std over seeds, bootstrap CI, best marked) as Markdown and CSV, plus " +
        "plots; writes <sweep-dir>/report/ (runs: grouped by recipe name, <folder>/report/)",
    )
    .option("--out <dir>", "output directory (default <sweep-dir>/report, <folder>/report)")
    .option(
      "--baseline <variant>",
      "also compare every variant with this one, paired by seed (Δ ± std, paired t-test p)",
    )
    .option(
      "--metric <key>",
      "runs: a column, <evaluator>.<metric>[:lower] (repeatable; default each evaluator's top1)",
      collect,
      [] as string[],
    )
    .action(async (dirs: string[], opts) => {
      const sweeps = dirs.filter((d) => existsSync(join(d, "sweep.json")));
      if (sweeps.length > 0 && dirs.length > 1) {
        throw new Error(
          `report: ${sweeps[0]} is a sweep directory; report one sweep at a time ` +
            `(run directories can be given together)`,
        );
      }
      const sweep = sweeps.length === 1;
      if (sweep && opts.metric.length > 0) {
        throw new Error(
          "report: --metric chooses columns for run directories; a sweep's columns are the " +
            "metrics: list of its sweep file",
        );
      }
      const report = sweep
        ? await writeSweepReport(dirs[0]!, { out: opts.out, baseline: opts.baseline })
        : await writeRunsReport(dirs, {
          out: opts.out,
          baseline: opts.baseline,
          metrics: (opts.metric as string[]).map(parseMetricOption),
        });
      console.log(report.markdown);
      if (report.comparison) console.log(report.comparison);
      for (const warning of report.results.warnings) console.error(`warning: ${warning}`);
      console.log(`report: ${report.files.readme}`);
    });
}

function addSweepCommand(program: Command): void {
  program.command("sweep").argument("<file>", "sweep YAML file (recipes/sweeps/*.yaml)")
    .description(
      "run every member of a sweep (recipes × grid × toggles × seeds) into " +
        "<out>/members/<id>/; a rerun skips finished members and resumes killed ones",
    )
    .option("--out <dir>", "sweep directory (default runs/sweeps/<name>)")
    .option("--shard <i/n>", "run only the members whose index % n == i (0 ≤ i < n)")
    .option("--retry-failed", "rerun members marked failed, from scratch")
    .option("--dry-run", "validate every member and print the member table; no training")
    .addOption(backendOption())
    .option("--quiet", "no progress bars (one line per member is still printed)")
    .action(async (file: string, opts) => {
      const shard = opts.shard === undefined ? undefined : parseShard(opts.shard);
      if (opts.dryRun) {
        const { spec, members } = await prepareSweep(file);
        const mine = shard ? members.filter((m) => m.index % shard.count === shard.index) : members;
        console.log(
          `sweep ${spec.name}: ${members.length} members, all valid` +
            (shard
              ? `; shard ${shard.index}/${shard.count} runs the ${mine.length} marked *`
              : "") +
            ` → ${opts.out ?? defaultSweepDir(spec.name)}`,
        );
        console.log(formatMemberTable(members, shard));
        return;
      }
      const result = await runSweep(file, {
        out: opts.out,
        shard,
        retryFailed: opts.retryFailed,
        backend: opts.backend as BackendChoice | undefined,
        quiet: opts.quiet,
      });
      if (result.failed.length > 0) {
        throw new Error(
          `${result.failed.length} member(s) failed: ${
            result.failed.join(", ")
          }; each error is in ` +
            `${result.dir}/members/<id>/status.json. Fix the cause and rerun with --retry-failed.`,
        );
      }
      if (result.interrupted) {
        throw new Error("sweep stopped early; rerun the same command to continue");
      }
      console.log(`table: deno task report ${result.dir}`);
    });
}

if (import.meta.main) {
  try {
    await buildProgram().parseAsync(Deno.args, { from: "user" });
  } catch (e) {
    const err = e as Error & { code?: string; exitCode?: number };
    if (err.code?.startsWith("commander.")) Deno.exit(err.exitCode ?? 1);
    console.error(`error: ${err.message}`);
    Deno.exit(1);
  }
}
