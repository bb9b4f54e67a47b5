/**
 * The novalab command line: `run | validate | graph | eval`.
 *
 * ```sh
 * deno task run recipes/nova.yaml [--set train.steps=100] [--backend wasm] [--resume runs/nova-…]
 * deno task validate recipes/nova.yaml     # prints the resolved recipe
 * deno task graph recipes/nova.yaml        # prints the training graph as Mermaid with shapes
 * deno task eval runs/nova-…               # evaluates a run's latest checkpoint
 * ```
 *
 * @module
 */
import { Command, Option } from "commander";
import { BACKEND_CHOICES, type BackendChoice, initBackend } from "./core/backend.ts";
import "./core/builtins.ts";
import { latestCheckpoint, loadCheckpoint } from "./core/checkpoint.ts";
import { renderMermaid } from "./core/mermaid.ts";
import { buildRecipe, defaultCacheDir, evaluateRecipe, runRecipe } from "./core/run.ts";
import { runPaths } from "./core/rundir.ts";
import { formatRecipeYaml, loadRunnable } from "./core/recipe_runnable.ts";
import { writeJsonAtomic } from "./core/atomic.ts";
import { writeRunReport } from "./eval/run_report.ts";

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
    .action(async (recipePath: string | undefined, opts) => {
      const source = recipePath ?? (opts.resume ? `${opts.resume}/recipe.yaml` : undefined);
      if (!source) throw new Error("run: name a recipe file, or --resume <run-dir>");
      const recipe = await loadRunnable(source, opts.set);
      const result = await runRecipe(recipe, {
        runsDir: opts.runs,
        resume: opts.resume,
        backend: opts.backend as BackendChoice | undefined,
        quiet: opts.quiet,
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

  program.command("eval").argument("<run-dir>", "a run directory")
    .description("evaluate a run's latest checkpoint with the inference graph (no training)")
    .addOption(setOption()).addOption(backendOption())
    .option("--recipe <file>", "recipe to evaluate with (default: the run's recipe.yaml)")
    .action(async (runDir: string, opts) => {
      const paths = runPaths(runDir);
      const recipe = await loadRunnable(opts.recipe ?? paths.recipe, opts.set);
      await initBackend((opts.backend as BackendChoice | undefined) ?? recipe.backend);
      const { graph, source } = await buildRecipe(recipe, defaultCacheDir());
      const latest = await latestCheckpoint(paths.checkpoints);
      if (!latest) {
        throw new Error(`${runDir}: no checkpoints/latest.json; has the run saved a checkpoint?`);
      }
      await loadCheckpoint(`${paths.checkpoints}/${latest.file}`, {
        parameters: graph.inferenceState(),
      });
      const results = await evaluateRecipe(recipe, graph, source);
      await writeJsonAtomic(paths.eval, results);
      printMetrics(results);
      const files = await writeRunReport(paths.root, {
        eval: results,
        specs: recipe.eval,
        model: graph.inference({ seed: recipe.seed }),
        source,
      });
      console.log(`report: ${files.html}`);
      graph.dispose();
      source.dispose();
    });
  return program;
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
