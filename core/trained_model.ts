/**
 * A trained run as a model to use: image and text embeddings of new inputs
 * and zero-shot classification of image files, from a run directory's recipe
 * and latest checkpoint (with `train.ema`, the averaged weights) — what
 * `deno task predict` and `deno task embed` run, and the library's entry
 * point for inference (open_clip's `encode_image` / `encode_text`).
 *
 * The embedding nodes are the recipe's own: those of its first `zero_shot`
 * evaluator, else of its first evaluator naming an `image` and a `text` node
 * (`retrieval`, `diagnostics`), unless given. Images are decoded as the
 * training data was (the source's size and channels, its `fit`, values in
 * `[0, 1]`).
 *
 * @module
 */
import { initBackend } from "./backend.ts";
import type { InferenceModel } from "./components.ts";
import type { Tensor4D } from "./tensor.ts";
import { defaultCacheDir } from "./env.ts";
import type { CompiledGraph } from "./graph_run.ts";
import { loadRunnable } from "./recipe_runnable.ts";
import { buildRecipe, type RunnableRecipe } from "./run.ts";
import { type LoadedRunWeights, loadRunWeights } from "./run_weights.ts";
import { runPaths } from "./rundir.ts";
import { stepReplayWanted } from "./device_step.ts";
import type { FitMode } from "../data/decode.ts";
import { readImageFiles } from "../data/image_files.ts";
import { embedImages, embedTexts } from "../eval/features.ts";
import { type Matrix, normalizeRows } from "../eval/linalg.ts";
import { promptEnsemble } from "../eval/zero_shot.ts";
import {
  checkTemplates,
  type Classification,
  classScores,
  type FindingScores,
  findingScores,
} from "../eval/prompt_scores.ts";
import { checkNodes, recipeBinary, recipeNodes } from "./trained_model_defaults.ts";
import type {
  ClassifyOptions,
  EmbedOptions,
  FindingOptions,
  TrainedModelOptions,
} from "./trained_model_options.ts";

export type { Classification, FindingScores } from "../eval/prompt_scores.ts";
export type { ClassScore } from "../eval/top_classes.ts";
export type {
  ClassifyOptions,
  EmbedOptions,
  FindingOptions,
  TrainedModelOptions,
} from "./trained_model_options.ts";

/** What the data source tells a trained model. */
interface SourceFacts {
  classNames: string[];
  labelNames: string[];
  imageShape: [number, number, number];
}

/** A trained run loaded for inference. Dispose it when done. */
export class TrainedModel {
  /** The run directory loaded. */
  readonly runDir: string;
  /** The run's resolved recipe (with the overrides applied). */
  readonly recipe: RunnableRecipe;
  /** The checkpoint loaded and its training step. */
  readonly checkpoint: { file: string; step: number };
  /** The embedding nodes (absent: none given and none in the recipe's evaluators). */
  readonly nodes: { image?: string; text?: string };
  /** Class names of the training data (`[]` when it has none). */
  readonly classNames: string[];
  /** Multi-label target names of the training data (e.g. CheXpert's findings; `[]` when none). */
  readonly labelNames: string[];
  /** The model's input `[H, W, C]`: what image files are decoded to. */
  readonly imageShape: [number, number, number];
  readonly #graph: CompiledGraph;
  readonly #model: InferenceModel;
  readonly #average: LoadedRunWeights["average"];

  private constructor(
    graph: CompiledGraph,
    at: {
      runDir: string;
      recipe: RunnableRecipe;
      weights: LoadedRunWeights;
      nodes: { image?: string; text?: string };
      source: SourceFacts;
      replay: boolean;
    },
  ) {
    this.#graph = graph;
    this.runDir = at.runDir;
    this.recipe = at.recipe;
    this.checkpoint = { file: at.weights.file, step: at.weights.step };
    this.#average = at.weights.average;
    this.nodes = at.nodes;
    this.classNames = at.source.classNames;
    this.labelNames = at.source.labelNames;
    this.imageShape = at.source.imageShape;
    this.#model = graph.inference({ seed: at.recipe.seed, replay: at.replay });
  }

  /**
   * Loads a run directory: its `recipe.yaml` (with `overrides`), the graph
   * built from it, and the latest checkpoint's inference weights.
   *
   * @param runDir A run directory (`runs/<name>-<time>`, a sweep member).
   * @param options Nodes, overrides, backend.
   * @throws When the folder is not a run, has no checkpoint, or names no such node.
   */
  static async load(runDir: string, options: TrainedModelOptions = {}): Promise<TrainedModel> {
    const paths = runPaths(runDir);
    try {
      await Deno.stat(paths.recipe);
    } catch (e) {
      if (!(e instanceof Deno.errors.NotFound)) throw e;
      throw new Error(
        `${runDir}: not a run directory (no recipe.yaml); expected runs/<name>-<time>`,
      );
    }
    const recipe = await loadRunnable(paths.recipe, options.overrides ?? []);
    await initBackend(options.backend ?? recipe.backend);
    const built = await buildRecipe(recipe, options.cacheDir ?? defaultCacheDir(), {
      loadInit: false,
    });
    const { graph, source } = built;
    try {
      const defaults = recipeNodes(recipe);
      const image = options.image ?? defaults.image, text = options.text ?? defaults.text;
      const nodes = { ...(image && { image }), ...(text && { text }) };
      checkNodes(graph, nodes, options);
      const weights = await loadRunWeights(paths.checkpoints, { recipe, graph, runDir });
      const labelNames = (source as { labelNames?: string[] }).labelNames ?? [];
      return new TrainedModel(graph, {
        runDir,
        recipe,
        weights,
        nodes,
        source: {
          classNames: [...source.classNames],
          labelNames: [...labelNames],
          imageShape: [...source.imageShape],
        },
        replay: options.replay ?? stepReplayWanted(),
      });
    } catch (e) {
      graph.dispose();
      throw e;
    } finally {
      source.dispose();
    }
  }

  /** The prompt templates {@link classify} uses by default (the recipe's zero-shot ones). */
  get templates(): string[] {
    return [...(recipeNodes(this.recipe).templates ?? ["a photo of a {}."])];
  }

  /** The findings {@link findings} scores by default: the recipe's, else the data's labels. */
  get findingNames(): string[] {
    const names = recipeBinary(this.recipe).findings ??
      (this.labelNames.length > 0 ? this.labelNames : this.classNames);
    return [...names];
  }

  /**
   * Decodes image files to the model's input: `[N, H, W, C]` in `[0, 1]`,
   * resized with the training data's `fit` (default `cover`).
   */
  readImages(files: readonly string[]): Promise<Tensor4D> {
    const [height, width, channels] = this.imageShape;
    const data = this.recipe.data.params as { fit?: FitMode };
    const fit = data.fit ?? "cover";
    return readImageFiles(files, { height, width, channels: channels as 1 | 3, fit });
  }

  /**
   * Image embeddings `[N, D]`, L2-normalised unless `normalize: false`.
   *
   * @param images Image files, or a batch `[N, H, W, C]` of the input shape (kept by the caller).
   */
  async embedImages(
    images: readonly string[] | Tensor4D,
    options: EmbedOptions = {},
  ): Promise<Matrix> {
    const node = this.#node("image");
    const batch = options.batch ?? 64;
    const tensor = Array.isArray(images) ? await this.readImages(images) : images as Tensor4D;
    try {
      const m = await embedImages(this.#model, tensor, { node, batch, who: "embed" });
      return options.normalize === false ? m : normalizeRows(m);
    } finally {
      if (tensor !== images) tensor.dispose();
    }
  }

  /** Text embeddings `[N, D]`, L2-normalised unless `normalize: false`. */
  async embedTexts(texts: readonly string[], options: EmbedOptions = {}): Promise<Matrix> {
    const node = this.#node("text");
    const m = await embedTexts(this.#model, [...texts], {
      node,
      batch: options.batch ?? 64,
      who: "embed",
    });
    return options.normalize === false ? m : normalizeRows(m);
  }

  /**
   * Prompt ensembles `[names, D]`: per template, every name's prompt embedded
   * and normalised; averaged over templates; normalised again (how the
   * zero-shot evaluators build a class).
   */
  promptEnsemble(
    names: readonly string[],
    options: { templates: readonly string[]; batch?: number },
  ): Promise<Matrix> {
    checkTemplates(options.templates, "prompts");
    return promptEnsemble(this.#model, {
      names: [...names],
      templates: [...options.templates],
      node: this.#node("text"),
      batch: options.batch ?? 64,
      who: "prompts",
    });
  }

  /**
   * Zero-shot classification (the `zero_shot` evaluator's scoring): each
   * image's cosine to every class's prompt ensemble, and its best classes.
   *
   * @param images Image files, or a batch `[N, H, W, C]`.
   */
  async classify(
    images: readonly string[] | Tensor4D,
    options: ClassifyOptions = {},
  ): Promise<Classification> {
    const names = options.classes ?? this.classNames;
    if (names.length < 2) {
      throw new Error(
        `classify: ${names.length} class names (the training data has ` +
          `${this.classNames.length}); name at least 2 (--classes a,b,…)`,
      );
    }
    const batch = options.batch ?? 64;
    const templates = options.templates ?? this.templates;
    const classes = await this.promptEnsemble(names, { templates, batch });
    const image = await this.embedImages(images, { batch });
    return classScores(image, classes, { names, top: options.top ?? 5 });
  }

  /**
   * Zero-shot findings (the `zero_shot_binary` evaluator's scoring, CheXzero's):
   * each image's probability of every finding from its positive and negative
   * prompt ensembles; the defaults are the recipe's `zero_shot_binary` ones.
   *
   * @param images Image files, or a batch `[N, H, W, C]`.
   */
  async findings(
    images: readonly string[] | Tensor4D,
    options: FindingOptions = {},
  ): Promise<FindingScores> {
    const binary = recipeBinary(this.recipe);
    const names = options.findings ?? this.findingNames;
    if (names.length === 0) {
      throw new Error("findings: no findings to score; name them (--findings a,b,…)");
    }
    const batch = options.batch ?? 64;
    const positive = await this.promptEnsemble(names, {
      templates: options.positive ?? binary.positive ?? ["{}"],
      batch,
    });
    const negative = await this.promptEnsemble(names, {
      templates: options.negative ?? binary.negative ?? ["no {}"],
      batch,
    });
    const image = await this.embedImages(images, { batch });
    const scale = options.scale ?? binary.scale ?? 1;
    return findingScores(image, { positive, negative }, { names, scale });
  }

  /** Releases the graph, the weights and any replayed calls. */
  dispose(): void {
    this.#model.dispose?.();
    this.#average?.dispose();
    this.#graph.dispose();
  }

  #node(role: "image" | "text"): string {
    const node = this.nodes[role];
    if (node === undefined) {
      throw new Error(
        `no ${role} node: the recipe has no evaluator naming one; name it (--${role}-node ` +
          `<node>; nodes: ${this.#graph.inferenceNodes().map((n) => n.name).join(", ")})`,
      );
    }
    return node;
  }
}
