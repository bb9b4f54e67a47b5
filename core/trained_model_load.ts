/**
 * Loading a trained run for inference (`TrainedModel.load`): the recipe with
 * its overrides, the graph compiled without the training data when the run
 * has its `data.json`, the latest checkpoint's weights, and what the recipe
 * says about using it — the embedding nodes and prompt templates of its
 * zero-shot evaluators, the `zero_shot_binary` evaluator's nodes, findings and
 * prompts — with a check that named nodes exist and read the right input.
 *
 * @module
 */
import { initBackend } from "./backend.ts";
import { type DataFacts, dataFacts, FactsSource, readDataFacts } from "./data_facts.ts";
import { defaultCacheDir } from "./env.ts";
import type { CompiledGraph } from "./graph_run.ts";
import { loadRunnable } from "./recipe_runnable.ts";
import { buildRecipe, type RunnableRecipe } from "./run.ts";
import { type LoadedRunWeights, loadRunWeights } from "./run_weights.ts";
import { runPaths } from "./rundir.ts";
import type { TrainedModelOptions } from "./trained_model_options.ts";

/** The embedding nodes of a trained model, by role. */
export interface TrainedNodes {
  /** Node giving image embeddings from `batch.image`. */
  image?: string;
  /** Node giving text embeddings from `batch.caption`. */
  text?: string;
}

/** What {@link loadTrainedParts} loads. */
export interface TrainedParts {
  /** The recipe, with the overrides. */
  recipe: RunnableRecipe;
  /** The inference graph with the checkpoint's weights. */
  graph: CompiledGraph;
  /** The checkpoint read (and the weight average swapped in). */
  weights: LoadedRunWeights;
  /** Embedding nodes (classes, embeddings). */
  nodes: TrainedNodes;
  /** Nodes of the findings (the `zero_shot_binary` evaluator's unless given). */
  findingNodes: TrainedNodes;
  /** Class and label names, image shape. */
  data: DataFacts;
}

/**
 * Loads a run directory's recipe (with `overrides`), compiles its graph —
 * from `data.json` when the run has it, else from its data source — checks the
 * embedding nodes and loads the latest checkpoint.
 *
 * @throws When the folder is not a run, has no checkpoint, or names no usable node.
 */
export async function loadTrainedParts(
  runDir: string,
  options: TrainedModelOptions,
): Promise<TrainedParts> {
  const paths = runPaths(runDir);
  try {
    await Deno.stat(paths.recipe);
  } catch (e) {
    if (!(e instanceof Deno.errors.NotFound)) throw e;
    throw new Error(`${runDir}: not a run directory (no recipe.yaml); expected runs/<name>-<time>`);
  }
  const recipe = await loadRunnable(paths.recipe, options.overrides ?? []);
  await initBackend(options.backend ?? recipe.backend);
  const facts = await readDataFacts(runDir);
  const { graph, source } = await buildRecipe(recipe, options.cacheDir ?? defaultCacheDir(), {
    loadInit: false,
    ...(facts && { source: new FactsSource(facts) }),
  });
  try {
    const pick = (defaults: TrainedNodes): TrainedNodes => {
      const image = options.image ?? defaults.image, text = options.text ?? defaults.text;
      return { ...(image && { image }), ...(text && { text }) };
    };
    const nodes = pick(recipeNodes(recipe));
    const findingNodes = pick({ ...nodes, ...recipeBinary(recipe) });
    checkNodes(graph, nodes, options);
    checkNodes(graph, findingNodes, options);
    const weights = await loadRunWeights(paths.checkpoints, { recipe, graph, runDir });
    return { recipe, graph, weights, nodes, findingNodes, data: dataFacts(source) };
  } catch (e) {
    graph.dispose();
    throw e;
  } finally {
    source.dispose();
  }
}

/** The evaluator parameters the defaults are read from. */
export interface EvalNodes {
  /** Image embedding node. */
  image?: string;
  /** Text embedding node. */
  text?: string;
  /** Class prompt templates (`zero_shot`). */
  templates?: string[];
}

/** The `zero_shot_binary` parameters the findings' defaults are read from. */
export interface BinaryDefaults {
  /** Image embedding node. */
  image?: string;
  /** Text embedding node. */
  text?: string;
  /** Findings to score. */
  findings?: string[];
  /** Positive prompt templates. */
  positive?: string[];
  /** Negative prompt templates. */
  negative?: string[];
  /** Logit scale of the pair softmax. */
  scale?: number;
}

/** The embedding nodes and templates a recipe's evaluators name. */
export function recipeNodes(recipe: RunnableRecipe): EvalNodes {
  const named = (kind?: string) =>
    recipe.eval.map((e) => ({ kind: e.kind, params: e.params as EvalNodes }))
      .find((e) =>
        (kind === undefined || e.kind === kind) && typeof e.params.image === "string" &&
        typeof e.params.text === "string"
      )?.params;
  return named("zero_shot") ?? named() ?? {};
}

/** The parameters of the recipe's first `zero_shot_binary` evaluator (`{}` when none). */
export function recipeBinary(recipe: RunnableRecipe): BinaryDefaults {
  return (recipe.eval.find((e) => e.kind === "zero_shot_binary")?.params ?? {}) as BinaryDefaults;
}

/** The batch fields (`batch.image`, `batch.caption`, …) a node and its ancestors read. */
function batchReads(graph: CompiledGraph, node: string): Set<string> {
  const byName = new Map(graph.inferenceNodes().map((n) => [n.name, n]));
  const refs = [...graph.ancestors([node])].flatMap((a) => byName.get(a)?.inputs ?? []);
  return new Set(refs.filter((r) => r.startsWith("batch.")));
}

/**
 * Throws unless every named node is a node of the inference graph that reads
 * its role's batch field only: an image node `batch.image`, a text node
 * `batch.caption`.
 */
export function checkNodes(
  graph: CompiledGraph,
  nodes: { image?: string; text?: string },
  given: { image?: string; text?: string },
): void {
  const names = graph.inferenceNodes().map((n) => n.name);
  const field = { image: "batch.image", text: "batch.caption" };
  for (const role of ["image", "text"] as const) {
    const node = nodes[role];
    if (node === undefined) continue;
    const from = given[role] !== undefined ? `--${role}-node` : "the recipe's evaluator";
    if (!names.includes(node)) {
      throw new Error(
        `${from} names ${role} node "${node}", which is not a node of the inference graph; ` +
          `expected one of: ${names.join(", ")}`,
      );
    }
    const reads = [...batchReads(graph, node)];
    if (!reads.includes(field[role]) || reads.length > 1) {
      throw new Error(
        `${from} names ${role} node "${node}", which reads ${reads.join(" and ") || "nothing"}; ` +
          `${role === "image" ? "an" : "a"} ${role} node reads ${field[role]} only`,
      );
    }
  }
}
